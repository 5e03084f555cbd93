//! One module per subcommand.

pub mod eval;
pub mod export;
pub mod inspect;
pub mod plot;
pub mod predict;
pub mod train;
