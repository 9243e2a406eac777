//! The live dashboard of `posture watch` on a terminal: a pure [`Model`] fed objects, alerts and
//! notes, drawn by a pure [`render`], so the screen is testable with ratatui's `TestBackend`.

mod model;
mod render;
#[cfg(test)]
mod tests;

pub(crate) use model::Model;
pub(crate) use render::render;
