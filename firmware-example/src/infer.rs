//! The infer-core API this firmware uses: infer-core itself, or, with feature
//! `without-infer-core`, stand-ins that return opaque values and keep the rest of the program
//! as it is. `scripts/firmware-size.py` builds both: the difference in flash is what infer-core
//! costs, its code and everything only it pulls in, plus the compiled-in blob (which the
//! stand-in build leaves out).

#[cfg(not(feature = "without-infer-core"))]
pub use infer_core::{Error, Model};
#[cfg(feature = "without-infer-core")]
pub use stand_in::{Error, Model};

#[cfg(all(feature = "without-infer-core", feature = "signed"))]
compile_error!("`without-infer-core` measures the unsigned firmware only");
#[cfg(all(feature = "without-infer-core", feature = "update"))]
compile_error!("`without-infer-core` measures the firmware without updates");

#[cfg(feature = "without-infer-core")]
mod stand_in {
    use core::fmt;
    use core::hint::black_box;

    /// One error, shown as one string.
    pub enum Error {
        BadMagic,
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("stand-in")
        }
    }

    #[derive(Debug)]
    pub enum Scheme {
        Int8,
    }

    pub struct Prediction {
        pub class: usize,
        pub logits: [f32; 10],
    }

    pub struct Model<'a>(&'a [u8]);

    /// Results the compiler cannot see through, so every branch on them stays.
    impl<'a> Model<'a> {
        pub fn from_blob(bytes: &'a [u8]) -> Result<Self, Error> {
            black_box(Ok(Self(bytes)))
        }

        pub fn from_region(_: &'a [u8]) -> Result<Self, Error> {
            black_box(Err(Error::BadMagic))
        }

        pub fn scheme(&self) -> Scheme {
            black_box(Scheme::Int8)
        }

        pub fn inputs(&self) -> usize {
            black_box(self.0.len())
        }

        pub fn classes(&self) -> usize {
            black_box(10)
        }

        pub fn classify(&self, image: &[u8]) -> Result<usize, Error> {
            black_box(Ok(image.len()))
        }

        pub fn predict(&self, image: &[u8]) -> Result<Prediction, Error> {
            black_box(Ok(Prediction { class: image.len(), logits: [0.0; 10] }))
        }

        pub fn logits_portable(&self, _: &[u8]) -> Result<[f32; 10], Error> {
            black_box(Ok([0.0; 10]))
        }
    }
}
