//! PLACEHOLDER (being written): text and compact output, checkpoints, decode, verify.
