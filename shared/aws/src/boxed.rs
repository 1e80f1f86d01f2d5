//! SDK errors kept as the source of the ports' errors (never turned into strings).

/// An SDK error as the boxed source of a port error.
pub(crate) fn boxed<E: std::error::Error + Send + Sync + 'static>(
    e: E,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}
