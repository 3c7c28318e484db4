//! The vote on one chunk: which answer wins, and how many more copies are needed.
//!
//! An answer is what a result says about its chunk beyond the range (which the
//! scheduler checks first): the count and the digest of the primes. Each distinct
//! worker votes once. An answer wins when at least `required` workers gave it and they
//! are a strict majority of all who voted; until then, [`needed`] says how many more
//! votes could settle it, assuming they all agree with the leading answer.

/// What a result says about its chunk: (count, digest).
pub type Answer = (u64, u64);

/// The outcome of a vote so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// This answer won.
    Accept(Answer),
    /// Not settled: at least this many more votes are needed.
    Open(u32),
}

/// Decides a vote. `votes` holds one answer per distinct worker.
pub fn verdict(votes: &[Answer], required: u32) -> Verdict {
    let Some((lead, top)) = leader(votes) else {
        return Verdict::Open(required.max(1));
    };
    let n = votes.len() as u32;
    if top >= required && 2 * top > n {
        return Verdict::Accept(lead);
    }
    Verdict::Open(needed(top, n, required))
}

/// More votes that could settle a vote whose leading answer has `top` of `n` votes:
/// enough for `required`, and for a strict majority (`top + m > (n + m) / 2`).
fn needed(top: u32, n: u32, required: u32) -> u32 {
    let for_quorum = required.saturating_sub(top);
    let for_majority = (n + 1).saturating_sub(2 * top);
    for_quorum.max(for_majority).max(1)
}

/// The answer with most votes and its count; ties go to the answer seen first, so
/// the outcome does not depend on anything but the order of arrival.
fn leader(votes: &[Answer]) -> Option<(Answer, u32)> {
    let mut best: Option<(Answer, u32)> = None;
    for (i, a) in votes.iter().enumerate() {
        if votes[..i].contains(a) {
            continue;
        }
        let c = votes.iter().filter(|b| *b == a).count() as u32;
        if best.is_none_or(|(_, bc)| c > bc) {
            best = Some((*a, c));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Answer = (10, 1);
    const L: Answer = (10, 2);
    const M: Answer = (9, 3);

    #[test]
    fn one_vote_settles_redundancy_one() {
        assert_eq!(verdict(&[], 1), Verdict::Open(1));
        assert_eq!(verdict(&[H], 1), Verdict::Accept(H));
    }

    #[test]
    fn k_agreeing_votes_settle_redundancy_k() {
        assert_eq!(verdict(&[H], 2), Verdict::Open(1));
        assert_eq!(verdict(&[H, H], 2), Verdict::Accept(H));
        assert_eq!(verdict(&[H, H], 3), Verdict::Open(1));
        assert_eq!(verdict(&[H, H, H], 3), Verdict::Accept(H));
    }

    #[test]
    fn disagreement_needs_a_strict_majority() {
        assert_eq!(verdict(&[H, L], 2), Verdict::Open(1));
        assert_eq!(verdict(&[H, L, H], 2), Verdict::Accept(H));
        assert_eq!(verdict(&[H, L, M], 2), Verdict::Open(2));
        // Two colluders against one honest vote at K = 3: not enough for either.
        assert_eq!(verdict(&[L, L, H], 3), Verdict::Open(1));
        assert_eq!(verdict(&[L, L, H, H], 3), Verdict::Open(1));
        assert_eq!(verdict(&[L, L, H, H, H], 3), Verdict::Accept(H));
        // A majority that is not K strong does not win.
        assert_eq!(verdict(&[H, H, L], 3), Verdict::Open(1));
    }
}
