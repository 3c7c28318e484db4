//! What an output holds: its [`Format`] and the [`JobSpec`] (range, format, kernel)
//! that a checkpoint must match before a resume goes on with it.

use std::fmt;
use std::str::FromStr;

/// The output file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One decimal prime per line.
    #[default]
    Text,
    /// Gap-encoded binary, about one byte per prime (`docs/FORMAT.md`).
    Compact,
}

impl Format {
    /// The names the CLI accepts, for messages.
    pub const NAMES: &'static str = "text, compact";
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Text => "text",
            Format::Compact => "compact",
        })
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "compact" => Ok(Format::Compact),
            _ => Err(format!("unknown format '{s}' (known: {})", Format::NAMES)),
        }
    }
}

/// What an output holds: the range, the format and the kernel that computed it. A
/// checkpoint of one job is refused for any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    pub start: u128,
    pub stop: u128,
    pub format: Format,
    pub kernel: String,
}

/// The fields in which two jobs differ, as `(field, there, here)`.
pub(super) fn job_diffs(there: &JobSpec, here: &JobSpec) -> Vec<(&'static str, String, String)> {
    let mut d = Vec::new();
    let mut cmp = |field, a: String, b: String| {
        if a != b {
            d.push((field, a, b));
        }
    };
    cmp("start", there.start.to_string(), here.start.to_string());
    cmp("stop", there.stop.to_string(), here.stop.to_string());
    cmp("format", there.format.to_string(), here.format.to_string());
    cmp("kernel", there.kernel.clone(), here.kernel.clone());
    d
}
