//! What `status` prints: an aligned table for people and one JSON object for scripts.
//!
//! Names, addresses and architectures come from remote peers, so both renderings escape
//! them: the table shows control characters as `\u{..}` escapes (a name cannot move the
//! cursor or recolour the terminal), the JSON escapes per RFC 8259 (quotes, backslashes,
//! every control character) and passes other Unicode through as UTF-8.
//!
//! The JSON is written by hand rather than with serde_json: it is one fixed shape of
//! numbers and strings, and the escaping below is the only subtle part (tests parse the
//! output back with serde_json). Numbers that may exceed 2^53 (the range, which reaches
//! 2^128-1) are JSON strings of decimal digits, so that every JSON reader gets them
//! exactly; counters that fit a `u64` are numbers.

use super::msg::{
    JobStatus, SetThreadsReply, SetThreadsRequest, StatusReply, StopReply, WorkerRow,
};
use std::fmt::Write;

/// `x` with a unit prefix and two decimals: 1234567 -> `1.23M`. (The master's summary
/// line has its own `master::human`; the two may merge when the master is restructured.)
pub fn human(x: f64) -> String {
    const UNITS: [(f64, &str); 6] = [
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ];
    match UNITS.iter().find(|(scale, _)| x >= *scale) {
        Some((scale, unit)) => format!("{:.2}{unit}", x / scale),
        None => format!("{x:.0}"),
    }
}

/// A duration in whole seconds as `2d03h`, `1h05m`, `3m07s` or `42s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Bytes as `512 B`, `1.5 KiB`, `24.0 MiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut x = n as f64 / 1024.0;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    format!("{x:.1} {}", UNITS[unit])
}

/// Longest name or address the table shows; longer ones end in `…` so one peer with a
/// 256-byte name cannot push every column off the screen.
pub const MAX_CELL: usize = 32;

/// `s` safe for a terminal: control characters escaped, cut to `max` characters (the
/// last of them `…` when cut).
fn cell(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for c in s.chars() {
        let escaped = c.is_control().then(|| c.escape_unicode());
        let n = escaped.clone().map_or(1, |e| e.count());
        if shown + n > max {
            // Leave room for the ellipsis.
            while shown >= max {
                out.pop();
                shown -= 1;
            }
            out.push('…');
            return out;
        }
        match escaped {
            Some(e) => out.extend(e),
            None => out.push(c),
        }
        shown += n;
    }
    out
}

/// The human `status` output: the job in a few lines, then one aligned row per worker.
pub fn table(s: &StatusReply) -> String {
    let mut out = String::new();
    job_lines(&s.job, &mut out);
    if s.workers.is_empty() {
        out.push_str("workers: none connected\n");
        return out;
    }
    let header = [
        "ID", "NAME", "ADDRESS", "ARCH", "CORES", "THREADS", "BUSY", "CHUNKS", "NUM/S", "SHARE",
        "HEARD", "STATE",
    ];
    // Numeric columns are right-aligned, text columns left-aligned.
    let right = [
        true, false, false, false, true, true, true, true, true, true, true, false,
    ];
    let rows: Vec<[String; 12]> = s.workers.iter().map(row_cells).collect();
    let mut width = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let pad = width[i].saturating_sub(c.chars().count());
            if right[i] {
                l.extend(std::iter::repeat_n(' ', pad));
                l.push_str(c);
            } else {
                l.push_str(c);
                if i + 1 < cells.len() {
                    l.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header.map(String::from));
    for row in &rows {
        line(row);
    }
    out
}

fn job_lines(j: &JobStatus, out: &mut String) {
    let eta = j.eta_secs.map_or_else(|| "unknown".to_string(), duration);
    let checkpoint = j.checkpoint_age_ms.map_or_else(
        || "none".to_string(),
        |ms| format!("{} ago", duration(ms / 1000)),
    );
    let _ = writeln!(
        out,
        "job:        {}..={} ({}), {:.2}% done, {} primes",
        j.start,
        j.stop,
        j.format.name(),
        j.fraction() * 100.0,
        j.primes
    );
    let _ = writeln!(
        out,
        "speed:      {} numbers/s, ETA {eta}",
        human(j.rate as f64)
    );
    let _ = writeln!(
        out,
        "output:     {} written, reorder buffer {} of {}, redundancy {}, checkpoint {checkpoint}",
        bytes(j.bytes_written),
        bytes(j.buffer_used),
        bytes(j.buffer_cap),
        j.redundancy
    );
}

fn row_cells(w: &WorkerRow) -> [String; 12] {
    [
        w.id.to_string(),
        cell(&w.name, MAX_CELL),
        cell(&w.address, MAX_CELL + 8),
        cell(&w.arch, 16),
        w.cores.to_string(),
        w.threads.to_string(),
        w.busy.to_string(),
        w.chunks.to_string(),
        human(w.rate as f64),
        format!("{}.{:02}%", w.share_bp / 100, w.share_bp % 100),
        format!("{}s ago", w.last_heard_ms / 1000),
        w.state.name().to_string(),
    ]
}

/// The `--json` output: one object with `job` and `workers`, and a newline.
pub fn json(s: &StatusReply) -> String {
    let j = &s.job;
    let mut out = String::from("{\"job\":{");
    let _ = write!(
        out,
        "\"start\":\"{}\",\"stop\":\"{}\",\"format\":\"{}\",\"done\":\"{}\",\"done_percent\":{},\
         \"primes\":{},\"numbers_per_sec\":{},\"eta_secs\":{},\"bytes_written\":{},\
         \"buffer_used\":{},\"buffer_cap\":{},\"redundancy\":{},\"checkpoint_age_ms\":{}",
        j.start,
        j.stop,
        j.format.name(),
        j.done,
        json_f64(j.fraction() * 100.0),
        j.primes,
        j.rate,
        json_opt(j.eta_secs),
        j.bytes_written,
        j.buffer_used,
        j.buffer_cap,
        j.redundancy,
        json_opt(j.checkpoint_age_ms),
    );
    out.push_str("},\"workers\":[");
    for (i, w) in s.workers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"id\":{},\"name\":", w.id);
        json_str(&w.name, &mut out);
        out.push_str(",\"address\":");
        json_str(&w.address, &mut out);
        out.push_str(",\"arch\":");
        json_str(&w.arch, &mut out);
        let _ = write!(
            out,
            ",\"cores\":{},\"threads\":{},\"busy\":{},\"chunks\":{},\"numbers_per_sec\":{},\
             \"share_percent\":{},\"last_heard_ms\":{},\"state\":\"{}\"}}",
            w.cores,
            w.threads,
            w.busy,
            w.chunks,
            w.rate,
            json_f64(f64::from(w.share_bp) / 100.0),
            w.last_heard_ms,
            w.state.name()
        );
    }
    out.push_str("]}\n");
    out
}

fn json_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

/// A finite float as JSON (Rust's `Display` never uses an exponent and always gives a
/// valid JSON number); NaN or infinity, which JSON lacks, as `null`.
fn json_f64(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".to_string()
    }
}

/// Appends `s` as a JSON string: `"` and `\` escaped, every control character (below
/// U+0020, and DEL and the C1 range, which terminals act on) as `\u00XX`, the line and
/// paragraph separators too (JavaScript's string literals choke on them).
pub fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// What `threads` prints on stdout: one line per changed worker (warnings go to stderr,
/// through [`super::msg::ThreadsWarning::describe`]).
pub fn threads_reply(req: &SetThreadsRequest, reply: &SetThreadsReply) -> String {
    let mut out = String::new();
    if reply.changed.is_empty() {
        let _ = writeln!(out, "{}: no connected worker changed", req.target);
    }
    for c in &reply.changed {
        let _ = writeln!(
            out,
            "worker {} {}: {} -> {} threads ({} cores)",
            c.id,
            cell(&c.name, MAX_CELL),
            c.before,
            reply.threads,
            c.cores
        );
    }
    out
}

/// What `stop` prints: where the job stopped and how to continue.
pub fn stop_reply(r: &StopReply) -> String {
    let resume = if r.checkpointed {
        "checkpoint written: start the master again with --resume to continue"
    } else {
        "no checkpoint (the output is not a file): the job cannot be resumed"
    };
    format!(
        "stopped after {} numbers, {} primes written; {} workers told to wait; {resume}\n",
        r.done, r.primes, r.workers
    )
}
