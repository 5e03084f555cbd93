//! One module per subcommand.

pub mod eval;
pub mod export;
pub mod inspect;
pub mod keygen;
pub mod plot;
pub mod predict;
pub mod sign;
pub mod train;
