//! What the console's two inline SVG charts ([`super::score_chart`], [`super::dashboard_chart`])
//! share: the 360×200 box the stylesheet scales to the screen's width, numbers written as
//! attributes, the guide lines with their values on the left, and the dates under the axis
//! (first, middle, last).

use chrono::NaiveDate;

/// The drawing's box (the `viewBox`).
pub const WIDTH: f64 = 360.0;
pub const HEIGHT: f64 = 200.0;

/// A label at a place.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub x: String,
    pub y: String,
    pub text: String,
    /// `start`, `middle` or `end`.
    pub anchor: &'static str,
}

/// A number as an SVG attribute (one decimal).
pub fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// The room a chart leaves around its plot for labels.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

impl Frame {
    pub fn plot_w(&self) -> f64 {
        WIDTH - self.left - self.right
    }

    pub fn plot_h(&self) -> f64 {
        HEIGHT - self.top - self.bottom
    }

    /// Guide lines, each a value and its y: the line's y with the value's label left of it.
    pub fn ticks<T: ToString>(
        &self,
        values: impl IntoIterator<Item = (T, f64)>,
    ) -> Vec<(String, Label)> {
        values
            .into_iter()
            .map(|(value, y)| {
                (
                    n(y),
                    Label {
                        x: n(self.left - 4.0),
                        y: n(y + 4.0),
                        text: value.to_string(),
                        anchor: "end",
                    },
                )
            })
            .collect()
    }

    /// The dates under the axis: `first` at its left end, a `middle` one at its x, `last` at
    /// its right end (`MM-DD`).
    pub fn dates(
        &self,
        first: NaiveDate,
        middle: Option<(f64, NaiveDate)>,
        last: Option<NaiveDate>,
    ) -> Vec<Label> {
        let y = n(HEIGHT - self.bottom + 16.0);
        let label = |x: f64, d: NaiveDate, anchor| Label {
            x: n(x),
            y: y.clone(),
            text: d.format("%m-%d").to_string(),
            anchor,
        };
        let mut dates = vec![label(self.left, first, "start")];
        dates.extend(middle.map(|(x, d)| label(x, d, "middle")));
        dates.extend(last.map(|d| label(self.left + self.plot_w(), d, "end")));
        dates
    }
}
