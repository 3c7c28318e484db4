//! PLACEHOLDER (being written): the CLI number syntax.
