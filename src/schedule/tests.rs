//! Unit tests of the scheduler: one behaviour each, driven by hand-made events.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn join(s: &mut Scheduler<u32>, worker: WorkerId, threads: u32, now: Duration) -> Vec<Action<u32>> {
    s.on(
        Event::Joined {
            worker,
            threads,
            name: format!("w{worker}"),
            addr: IpAddr::from([10, 0, 0, worker as u8]),
            kernels: 0,
        },
        now,
    )
}

fn assigns(actions: &[Action<u32>]) -> Vec<(ChunkId, u128, u128)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Assign {
                chunk, start, stop, ..
            } => Some((*chunk, *start, *stop)),
            _ => None,
        })
        .collect()
}

fn result(worker: WorkerId, chunk: (ChunkId, u128, u128)) -> Event<u32> {
    Event::Result {
        worker,
        chunk: chunk.0,
        start: chunk.1,
        stop: chunk.2,
        count: 1,
        digest: 7,
        compute: ms(10),
        bytes: 8,
        payload: chunk.0 as u32,
    }
}

#[test]
fn one_worker_runs_the_job_in_order() {
    let mut cfg = Config::new(0, 9_999, true);
    cfg.initial_width = 1000;
    cfg.min_width = 10;
    let mut s = Scheduler::new(cfg);
    let a = assigns(&join(&mut s, 1, 2, ms(0)));
    assert_eq!(a.len(), 3, "2 threads hold 3 chunks");
    assert_eq!(a[0], (0, 0, 999));
    assert_eq!(a[1], (1, 1000, 1999));
    // Results out of order: chunk 1 waits for chunk 0.
    let r = s.on(result(1, a[1]), ms(5));
    assert!(!r.iter().any(|x| matches!(x, Action::Write { .. })));
    let r = s.on(result(1, a[0]), ms(6));
    let written: Vec<ChunkId> = r
        .iter()
        .filter_map(|x| match x {
            Action::Write { chunk, .. } => Some(*chunk),
            _ => None,
        })
        .collect();
    assert_eq!(written, vec![0, 1]);
}

#[test]
fn lost_worker_chunks_go_first_to_the_next() {
    let mut cfg = Config::new(0, 1_000_000, true);
    cfg.initial_width = 1000;
    let mut s = Scheduler::new(cfg);
    let a = assigns(&join(&mut s, 1, 1, ms(0)));
    assert_eq!(a.len(), 2);
    let b = assigns(&join(&mut s, 2, 1, ms(1)));
    assert_eq!(b[0].0, 2);
    s.on(Event::Left { worker: 1 }, ms(2));
    // Worker 2 is full; when it returns one, it gets chunk 0 back first.
    let r = assigns(&s.on(result(2, b[0]), ms(3)));
    assert_eq!(r[0].0, 0);
}

#[test]
fn silent_worker_is_dropped_at_its_deadline() {
    let mut s: Scheduler<u32> = Scheduler::new(Config::new(0, 1 << 30, true));
    join(&mut s, 7, 1, ms(0));
    assert_eq!(s.next_deadline(), Some(Duration::from_secs(10)));
    assert!(s.on(Event::Tick, ms(9_999)).is_empty());
    let r = s.on(Event::Tick, ms(10_000));
    assert!(matches!(
        r[0],
        Action::Drop {
            worker: 7,
            reason: DropReason::Silent(_)
        }
    ));
    assert!(s.held_by(7).is_empty());
}

#[test]
fn result_for_unheld_chunk_or_wrong_range_drops_the_worker() {
    let mut cfg = Config::new(0, 1_000_000, true);
    cfg.initial_width = 1000;
    let mut s = Scheduler::new(cfg.clone());
    let a = assigns(&join(&mut s, 1, 1, ms(0)));
    let r = s.on(result(1, (a[0].0, a[0].1, a[0].2 + 1)), ms(1));
    assert!(matches!(
        r[0],
        Action::Drop {
            worker: 1,
            reason: DropReason::BadResult(_)
        }
    ));
    let mut s = Scheduler::new(cfg);
    join(&mut s, 1, 1, ms(0));
    let r = s.on(result(1, (99, 0, 5)), ms(1));
    assert!(matches!(r[0], Action::Drop { worker: 1, .. }));
}

#[test]
fn empty_job_is_done_at_once_and_full_range_is_cut_without_overflow() {
    let mut s: Scheduler<u32> = Scheduler::new(Config::new(5, 4, true));
    assert!(s.is_done());
    assert_eq!(s.on(Event::Tick, ms(0)), vec![Action::Done]);
    let mut cfg = Config::new(u128::MAX - 100, u128::MAX, true);
    cfg.min_width = 1;
    cfg.initial_width = 30;
    let mut s = Scheduler::new(cfg);
    let a = assigns(&join(&mut s, 1, 4, ms(0)));
    assert_eq!(a.last().map(|c| c.2), Some(u128::MAX));
    let mut done = false;
    for c in a {
        done |= s.on(result(1, c), ms(1)).contains(&Action::Done);
    }
    assert!(done);
}

#[test]
fn a_worker_claiming_huge_threads_holds_at_most_max_held() {
    let mut cfg = Config::new(0, 1 << 60, true);
    cfg.max_buffer_bytes = u64::MAX / 4;
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    let a = assigns(&join(&mut s, 1, 1024, ms(0)));
    assert_eq!(a.len(), MAX_HELD);
    assert_eq!(s.held_by(1).len(), MAX_HELD);
    let a = assigns(&s.on(
        Event::Heard {
            worker: 1,
            threads: u32::MAX,
        },
        ms(1),
    ));
    assert!(a.is_empty(), "still at the cap: {a:?}");
}

#[test]
fn shares_keep_workers_with_one_host_name_apart() {
    let mut cfg = Config::new(0, 3_999, true);
    cfg.initial_width = 1000;
    cfg.min_width = 10;
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    let mut given = Vec::new();
    for (worker, ip) in [(1, 1), (2, 2)] {
        let acts = s.on(
            Event::Joined {
                worker,
                threads: 1,
                name: "raspberrypi".into(),
                addr: IpAddr::from([192, 168, 0, ip]),
                kernels: 0,
            },
            ms(0),
        );
        given.extend(assigns(&acts).into_iter().map(|c| (worker, c)));
    }
    for (worker, c) in given {
        s.on(result(worker, c), ms(1));
    }
    let shares = s.shares();
    assert_eq!(shares.len(), 2, "{shares:?}");
    assert!(shares
        .iter()
        .all(|x| x.name == "raspberrypi" && x.chunks == 2));
    assert_ne!(shares[0].addr, shares[1].addr);
}

#[test]
fn a_zombie_loses_its_chunk_at_the_deadline_and_is_dropped_after_three() {
    let mut cfg = Config::new(0, 1 << 40, true);
    cfg.initial_width = 1000;
    cfg.min_width = 1000;
    cfg.max_width = 1000;
    cfg.heartbeat_timeout = ms(1000);
    cfg.assumed_rate = 1000.0; // 1 s a chunk, 4 s with the factor
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    let zombie = assigns(&join(&mut s, 1, 1, ms(0)));
    assert_eq!(zombie[0].0, 0);
    let honest = assigns(&join(&mut s, 2, 1, ms(0)));
    let mut now = ms(0);
    let mut copied = false;
    let mut dropped = None;
    let mut queue = honest;
    while now < Duration::from_secs(120) && dropped.is_none() {
        now += ms(100);
        // Both heartbeat; only worker 2 returns results, each 100 ms.
        s.on(
            Event::Heard {
                worker: 1,
                threads: 1,
            },
            now,
        );
        s.on(
            Event::Heard {
                worker: 2,
                threads: 1,
            },
            now,
        );
        let mut acts = Vec::new();
        if let Some(c) = queue.pop() {
            acts.extend(s.on(result(2, c), now));
        }
        if s.next_deadline().is_some_and(|d| d <= now) {
            acts.extend(s.on(Event::Tick, now));
        }
        for a in &acts {
            match a {
                Action::Assign {
                    worker: 2,
                    chunk,
                    start,
                    stop,
                    ..
                } => {
                    copied |= *chunk == 0;
                    queue.insert(0, (*chunk, *start, *stop));
                }
                Action::Drop { worker, reason } => dropped = Some((*worker, reason.clone())),
                _ => {}
            }
        }
    }
    assert!(copied, "chunk 0 was never copied to the honest worker");
    assert_eq!(dropped, Some((1, DropReason::MissedDeadlines(3))));
    assert!(
        now >= Duration::from_secs(4),
        "not before the first deadline"
    );
    assert!(s.held_by(1).is_empty());
}

#[test]
fn a_result_resets_the_missed_count() {
    let mut cfg = Config::new(0, 1 << 40, true);
    cfg.initial_width = 1000;
    cfg.heartbeat_timeout = ms(1000);
    cfg.assumed_rate = 1000.0;
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    let a = assigns(&join(&mut s, 1, 1, ms(0)));
    let mut now = ms(0);
    // A slow worker: each result comes just after the deadline of the one before.
    let mut held = a;
    for _ in 0..10 {
        now += Duration::from_secs(5);
        s.on(
            Event::Heard {
                worker: 1,
                threads: 1,
            },
            now,
        );
        let acts = s.on(Event::Tick, now);
        assert!(
            !acts.iter().any(|x| matches!(x, Action::Drop { .. })),
            "{acts:?}"
        );
        held.extend(assigns(&acts));
        let c = held.remove(0);
        held.extend(assigns(&s.on(result(1, c), now)));
    }
}

fn join_at(
    s: &mut Scheduler<u32>,
    worker: WorkerId,
    ip: u8,
    kernels: u32,
    now: Duration,
) -> Vec<Action<u32>> {
    s.on(
        Event::Joined {
            worker,
            threads: 1,
            name: format!("w{worker}"),
            addr: IpAddr::from([10, 0, 0, ip]),
            kernels,
        },
        now,
    )
}

fn answer(worker: WorkerId, c: (ChunkId, u128, u128), count: u64, digest: u64) -> Event<u32> {
    Event::Result {
        worker,
        chunk: c.0,
        start: c.1,
        stop: c.2,
        count,
        digest,
        compute: ms(10),
        bytes: 100,
        payload: digest as u32,
    }
}

fn k_config(k: u32) -> Config {
    let mut cfg = Config::new(0, 999, true);
    cfg.initial_width = 1000;
    cfg.redundancy = k;
    cfg
}

#[test]
fn copies_go_to_distinct_hosts_while_there_are_enough() {
    let mut cfg = Config::new(0, 3999, true);
    cfg.initial_width = 1000;
    cfg.min_width = 1000;
    cfg.max_width = 1000;
    cfg.redundancy = 2;
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    let c = assigns(&join_at(&mut s, 3, 9, 0, ms(0)));
    assert_eq!(c.len(), 2);
    assert_eq!(assigns(&join_at(&mut s, 1, 1, 0, ms(0))).len(), 2);
    // Worker 1 (host 1) frees a slot and cuts chunk 2.
    let r = assigns(&s.on(answer(1, c[0], 1, 1), ms(1)));
    assert_eq!(r[0].0, 2);
    // Worker 2 is on host 1 too: chunk 2's copy waits for host 9.
    let b = join_at(&mut s, 2, 1, 0, ms(2));
    assert!(assigns(&b).iter().all(|x| x.0 != 2), "{b:?}");
    assert!(!b.iter().any(|x| matches!(x, Action::Warn(_))));
    let r = assigns(&s.on(answer(3, c[0], 1, 1), ms(3)));
    assert!(r.iter().any(|x| x.0 == 2), "host 9 takes the copy: {r:?}");
}

#[test]
fn one_host_gets_both_copies_with_a_warning() {
    let mut s: Scheduler<u32> = Scheduler::new(k_config(2));
    join_at(&mut s, 1, 1, 0, ms(0));
    let b = join_at(&mut s, 2, 1, 0, ms(0));
    assert_eq!(assigns(&b).len(), 1);
    assert!(b.iter().any(|x| matches!(x, Action::Warn(_))), "{b:?}");
}

#[test]
fn copies_of_a_chunk_use_different_kernels() {
    let mut s: Scheduler<u32> = Scheduler::new(k_config(2));
    let both = 0b110; // sieve and trial
    let kernel_of = |acts: &[Action<u32>]| {
        acts.iter()
            .find_map(|x| match x {
                Action::Assign { kernel, .. } => Some(*kernel),
                _ => None,
            })
            .expect("an assign")
    };
    let a = kernel_of(&join_at(&mut s, 1, 1, both, ms(0)));
    let b = kernel_of(&join_at(&mut s, 2, 2, both, ms(0)));
    assert!(a.is_some() && b.is_some());
    assert_ne!(a, b);
    // At redundancy 1 a lone copy runs the worker's default.
    let mut s: Scheduler<u32> = Scheduler::new(k_config(1));
    assert_eq!(kernel_of(&join_at(&mut s, 1, 1, both, ms(0))), None);
    // A kernel left out of the mask is never chosen.
    let mut cfg = k_config(2);
    cfg.kernel_mask = 0b010;
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    assert_eq!(kernel_of(&join_at(&mut s, 1, 1, both, ms(0))), None);
}

#[test]
fn copies_get_the_sieve_and_the_presieve_and_both_workers_get_each() {
    // The master's mask for an auto job (sieve | presieve) and workers offering auto,
    // sieve, trial and presieve: each chunk's two copies are asked for kernels 1 and
    // 3, and the slow pre-sieve copies alternate between the workers.
    let mut cfg = Config::new(0, 3999, true);
    (cfg.initial_width, cfg.min_width, cfg.max_width) = (1000, 1000, 1000);
    cfg.redundancy = 2;
    cfg.kernel_mask = 0b1010;
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    let offered = 0b1111;
    let mut kernels: BTreeMap<ChunkId, Vec<(WorkerId, Option<u8>)>> = BTreeMap::new();
    let mut note = |acts: &[Action<u32>]| {
        for a in acts {
            if let Action::Assign {
                worker,
                chunk,
                kernel,
                ..
            } = a
            {
                kernels.entry(*chunk).or_default().push((*worker, *kernel));
            }
        }
    };
    note(&join_at(&mut s, 1, 1, offered, ms(0)));
    note(&join_at(&mut s, 2, 2, offered, ms(0)));
    assert_eq!(kernels.len(), 2, "{kernels:?}");
    let mut presieve_on = BTreeSet::new();
    for (chunk, copies) in &kernels {
        let mut ks: Vec<Option<u8>> = copies.iter().map(|&(_, k)| k).collect();
        ks.sort();
        assert_eq!(ks, [Some(1), Some(3)], "chunk {chunk}: {copies:?}");
        presieve_on.extend(copies.iter().filter(|c| c.1 == Some(3)).map(|c| c.0));
    }
    assert_eq!(
        presieve_on.len(),
        2,
        "each worker runs some pre-sieve copies"
    );
}

#[test]
fn a_disagreement_sends_a_third_copy_and_quarantines_the_loser() {
    let mut s: Scheduler<u32> = Scheduler::new(k_config(2));
    let c = assigns(&join_at(&mut s, 1, 1, 0, ms(0)))[0];
    join_at(&mut s, 2, 2, 0, ms(0));
    join_at(&mut s, 3, 3, 0, ms(0));
    assert!(s
        .on(answer(1, c, 168, 7), ms(1))
        .iter()
        .all(|x| !matches!(x, Action::Write { .. })));
    let r = s.on(answer(2, c, 167, 8), ms(2));
    assert!(r.iter().all(|x| !matches!(x, Action::Write { .. })));
    assert_eq!(s.held_by(3), vec![0], "a third copy goes out");
    assert_eq!(s.buffered_bytes(), 200, "both answers wait for the quorum");
    let r = s.on(answer(3, c, 168, 7), ms(3));
    assert!(r.contains(&Action::Write {
        chunk: 0,
        start: 0,
        stop: 999,
        count: 168,
        payload: 7
    }));
    assert!(
        r.iter().any(|x| matches!(
            x,
            Action::Quarantine {
                worker: Some(2),
                ..
            }
        )),
        "{r:?}"
    );
    assert_eq!(s.buffered_bytes(), 0);
    assert!(s.is_quarantined("w2", IpAddr::from([10, 0, 0, 2])));
    // It is refused when it comes back, on a new connection.
    let r = s.on(
        Event::Joined {
            worker: 9,
            threads: 1,
            name: "w2".into(),
            addr: IpAddr::from([10, 0, 0, 2]),
            kernels: 0,
        },
        ms(4),
    );
    assert!(matches!(
        r[0],
        Action::Drop {
            worker: 9,
            reason: DropReason::Quarantined { .. }
        }
    ));
    let rows = s.workers();
    let row = rows.iter().find(|w| w.id == 2).expect("listed");
    assert_eq!(row.state, WorkerState::Quarantined);
    assert!(
        rows.iter().all(|w| w.id != 9),
        "a refused worker is not listed"
    );
}

#[test]
fn a_quarantine_reopens_a_vote_the_liar_had_won() {
    // K = 2: workers 1 and 2 agree on chunk 1, which waits behind chunk 0; worker
    // 1 is caught lying on chunk 0, so chunk 1 must be voted again, not written.
    let mut cfg = Config::new(0, 1999, true);
    cfg.initial_width = 1000;
    cfg.min_width = 1000;
    cfg.max_width = 1000;
    cfg.redundancy = 2;
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    let c: Vec<_> = assigns(&join_at(&mut s, 1, 1, 0, ms(0)));
    assert_eq!(c.len(), 2);
    join_at(&mut s, 2, 2, 0, ms(0));
    s.on(answer(1, c[0], 5, 666), ms(1));
    s.on(answer(2, c[0], 5, 5), ms(1));
    s.on(answer(1, c[1], 9, 999), ms(2));
    let r = s.on(answer(2, c[1], 9, 999), ms(3));
    assert!(
        r.iter().all(|x| !matches!(x, Action::Write { .. })),
        "{r:?}"
    );
    // Worker 3 settles chunk 0 against worker 1.
    join_at(&mut s, 3, 3, 0, ms(4));
    assert!(s.held_by(3).contains(&0));
    let r = s.on(answer(3, c[0], 5, 5), ms(5));
    assert!(r.iter().any(|x| matches!(
        x,
        Action::Quarantine {
            worker: Some(1),
            ..
        }
    )));
    assert!(r.iter().any(|x| matches!(
        x,
        Action::Write {
            chunk: 0,
            payload: 5,
            ..
        }
    )));
    // Chunk 1 lost worker 1's vote: not written until another worker agrees.
    assert!(
        r.iter()
            .all(|x| !matches!(x, Action::Write { chunk: 1, .. })),
        "{r:?}"
    );
    assert!(s.held_by(3).contains(&1), "chunk 1 is computed again");
    let r = s.on(answer(3, c[1], 9, 999), ms(6));
    assert!(
        r.iter()
            .any(|x| matches!(x, Action::Write { chunk: 1, .. })),
        "{r:?}"
    );
}

#[test]
fn threads_set_by_control_come_back_on_reconnect() {
    let mut s: Scheduler<u32> = Scheduler::new(Config::new(0, 1 << 30, true));
    join_at(&mut s, 1, 1, 0, ms(0));
    join_at(&mut s, 2, 2, 0, ms(0));
    let r = s.on(
        Event::SetThreads {
            worker: Some(1),
            threads: 6,
        },
        ms(1),
    );
    assert!(r.contains(&Action::SetThreads {
        worker: 1,
        threads: 6
    }));
    assert!(!r
        .iter()
        .any(|x| matches!(x, Action::SetThreads { worker: 2, .. })));
    assert_eq!(s.held_by(1).len(), 9, "6 threads hold 9 chunks");
    s.on(Event::Left { worker: 1 }, ms(2));
    let rejoin = Event::Joined {
        worker: 5,
        threads: 1,
        name: "w1".into(),
        addr: IpAddr::from([10, 0, 0, 1]),
        kernels: 0,
    };
    let r = s.on(rejoin, ms(3));
    assert!(
        r.contains(&Action::SetThreads {
            worker: 5,
            threads: 6
        }),
        "{r:?}"
    );
    let rows = s.workers();
    assert_eq!(rows.iter().find(|w| w.id == 5).map(|w| w.threads), Some(6));
    assert_eq!(
        rows.iter().find(|w| w.id == 1).map(|w| w.state),
        Some(WorkerState::Lost)
    );
    let r = s.on(
        Event::SetThreads {
            worker: None,
            threads: 2,
        },
        ms(4),
    );
    assert_eq!(
        r.iter()
            .filter(|x| matches!(x, Action::SetThreads { .. }))
            .count(),
        2
    );
}

#[test]
fn status_rows_count_each_workers_results() {
    let mut cfg = Config::new(0, 9_999, true);
    cfg.initial_width = 1000;
    cfg.min_width = 10;
    let mut s: Scheduler<u32> = Scheduler::new(cfg);
    let a = assigns(&join(&mut s, 1, 1, ms(0)));
    s.on(result(1, a[0]), ms(50));
    let row = &s.workers()[0];
    assert_eq!((row.id, row.name.as_str(), row.chunks_done), (1, "w1", 1));
    assert_eq!(row.numbers_done, 1000);
    assert_eq!(row.last_heard, ms(50));
    assert_eq!(row.state, WorkerState::Active);
    assert!(row.rate.is_some_and(|r| r > 0.0));
}

#[test]
fn a_spot_check_copy_uses_the_other_kernel() {
    // Redundancy 1 with spot checks: the first copy runs the job's kernel (`None`,
    // the sieve for auto below 2^64); the check of a novice's result goes to the
    // pre-sieve whatever the chunk id.
    for first in 0..4u64 {
        let mut cfg = Config::new(0, 99_999, true);
        (cfg.initial_width, cfg.min_width, cfg.max_width) = (1000, 1000, 1000);
        cfg.spot_check = 0.5;
        cfg.kernel_mask = 0b1010;
        cfg.default_kernel = Some(1);
        let mut s: Scheduler<u32> = Scheduler::new(cfg);
        let held = assigns(&join_at(&mut s, 1, 1, 0b1111, ms(0)));
        let c = held[first as usize % held.len()];
        let a = s.on(answer(1, c, 1, 1), ms(1));
        assert!(assigns(&a).iter().all(|x| x.0 != c.0), "not to itself");
        let b = join_at(&mut s, 2, 2, 0b1111, ms(2));
        let check = b.iter().find_map(|x| match x {
            Action::Assign { chunk, kernel, .. } if *chunk == c.0 => Some(*kernel),
            _ => None,
        });
        assert_eq!(check, Some(Some(3)), "chunk {}: {b:?}", c.0);
    }
}

/// Chunks at least a sieve segment wide (`SEGMENT_SPAN` numbers) end on a multiple of
/// it, so a worker's sieve never splits a segment between two calls: at 1e16, chunks
/// of 2^20 primes (1.23 segments) ending anywhere made a 1e9 run 15% slower than one
/// call. The first chunk of that width ends on a multiple; every later one starts and
/// ends on one, stays within the primes cap, and the chunks still tile the range.
#[test]
fn wide_chunks_end_on_sieve_segments() {
    let (start, stop) = (10u128.pow(16) + 12_345, 10u128.pow(16) + 2_000_000_000);
    let mut s = Scheduler::new(Config::new(start, stop, true));
    let cap = (s.cfg.max_chunk_primes as f64 * ln(start)) as u128;
    let mut pending = assigns(&join(&mut s, 1, 2, ms(0)));
    let mut cut = pending.clone();
    let mut now = 1;
    while let Some(c) = pending.pop() {
        now += 1;
        // A millisecond per chunk: fast, so widths are set by the primes cap.
        let mut r = result(1, c);
        if let Event::Result { compute, .. } = &mut r {
            *compute = ms(1);
        }
        let a = assigns(&s.on(r, ms(now)));
        cut.extend(&a);
        pending.extend(a);
    }
    cut.sort();
    assert_eq!((cut[0].1, cut.last().unwrap().2), (start, stop));
    for pair in cut.windows(2) {
        assert_eq!(pair[0].2 + 1, pair[1].1, "chunks tile the range");
    }
    let wide: Vec<_> = cut
        .iter()
        .filter(|c| c.2 - c.1 + 1 >= SEGMENT_SPAN)
        .collect();
    assert!(wide.len() > 40, "{} wide chunks", wide.len());
    for &&(id, a, b) in &wide[..wide.len() - 1] {
        assert_eq!((b + 1) % SEGMENT_SPAN, 0, "chunk {id}: {a}..={b}");
        assert!(b - a < cap, "chunk {id}: {a}..={b} over the cap {cap}");
    }
    for &&(id, a, b) in &wide[1..] {
        assert_eq!(a % SEGMENT_SPAN, 0, "chunk {id}: {a}..={b}");
    }
}
