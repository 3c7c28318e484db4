//! Zombies against the real master (the built binary): connections that say hello and
//! heartbeat but never return a result. Two of them take every chunk of a small job
//! (the first claims 1024 threads; the second, idle, is given a copy of the head chunk),
//! then one real worker joins. The job must still end, with the `primes` command's
//! output, within a bound: the chunks' deadlines copy the zombies' work to the real
//! worker and drop the zombies. Before chunk deadlines existed this job never ended:
//! the head chunk, held by two zombies, was never copied to anyone else.

mod common;
mod reference;

use common::*;
use primecluster::auth::{ClientProof, HelloAuth, Method, Role};
use primecluster::wire::{self, Hello, Message};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A fake worker in a thread: hello, then a heartbeat every 100 ms and nothing else.
/// Dropping it stops the thread and closes its socket.
struct Zombie {
    stop: Arc<AtomicBool>,
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
    /// Receives the chunk id of every assign the master sends it.
    assigned: mpsc::Receiver<u64>,
}

impl Zombie {
    fn join(port: u16, name: &str, threads: u32) -> Zombie {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to master");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let hello = Message::Hello(Hello {
            version: wire::VERSION,
            name: name.into(),
            cores: threads,
            threads,
            arch: "zombie".into(),
            kernels: 1,
            auth: HelloAuth {
                auth: Method::None,
                role: Role::Worker,
                client_nonce: [9; 32],
            },
        });
        let mut frame = Vec::new();
        wire::encode(&hello, &mut frame);
        // No token on either side: the proof is "none", and may follow the hello at once
        // (the master reads it after its one-byte challenge).
        wire::encode(&Message::Proof(ClientProof::NoAuth), &mut frame);
        stream.write_all(&frame).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, assigned) = mpsc::channel();
        let mut s = stream.try_clone().unwrap();
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut buf = Vec::new();
            let mut beat = Vec::new();
            wire::encode(
                &Message::Heartbeat {
                    threads,
                    busy: threads,
                },
                &mut beat,
            );
            while !flag.load(Ordering::Relaxed) {
                if s.write_all(&beat).is_err() {
                    return; // The master closed the connection: dropped.
                }
                let mut chunk = [0u8; 65536];
                match s.read(&mut chunk) {
                    Ok(0) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return,
                }
                while let Ok(Some((m, used))) = wire::decode(&buf) {
                    buf.drain(..used);
                    if let Message::Assign(a) = m {
                        let _ = tx.send(a.chunk);
                    }
                }
            }
        });
        Zombie {
            stop,
            stream,
            thread: Some(thread),
            assigned,
        }
    }

    /// Waits until the master has assigned it at least one chunk.
    fn wait_assigned(&self) -> u64 {
        self.assigned
            .recv_timeout(Duration::from_secs(20))
            .expect("the master assigns the zombie work")
    }
}

impl Drop for Zombie {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn two_zombies_and_one_real_worker_finish_the_job() {
    let dir = scratch("zombie");
    let out = dir.join("p.txt");
    let outs = out.to_str().unwrap();
    let (mut m, port) = master(&["0", "3e6", "--out", outs, "--heartbeat-ms", "200"]);
    // 1024 threads: the whole job is cut for it at once (46 chunks of the first width).
    let greedy = Zombie::join(port, "greedy", 1024);
    assert_eq!(
        greedy.wait_assigned(),
        0,
        "the first chunk goes to the first"
    );
    // Nothing is left to cut: the idle second zombie gets a copy of the head chunk.
    let copier = Zombie::join(port, "copier", 1);
    assert_eq!(copier.wait_assigned(), 0, "the idle zombie copies the head");
    let mut real = worker(port, &["--threads", "2", "--name", "real"]);
    let status = m.wait_for(Duration::from_secs(90));
    assert!(status.success(), "master: {status:?}");
    assert_eq!(read(&out), output_of(&["primes", "0", "3e6"]));
    assert!(real.wait_for(Duration::from_secs(30)).success());
    drop((greedy, copier));
}
