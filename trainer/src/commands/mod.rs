//! One module per subcommand.

pub mod eval;
pub mod export;
pub mod inspect;
pub mod predict;
pub mod train;
