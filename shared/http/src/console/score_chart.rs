//! The trade-score history as a line chart: the geometry of a server-rendered inline SVG
//! (drawn by `score.html` with presentation attributes only: the console's CSP allows no style
//! attribute and no inline script). Days run left to right over the whole range asked for (a
//! day without a snapshot leaves a gap in time, not a missing step); scores run bottom to top
//! over their own span with a margin, so a change of a few points is visible. Laid out in a
//! 360×200 box that the stylesheet scales to the screen's width (a 390 px phone shows it whole).

use chrono::NaiveDate;

use super::chart_axes::{Frame, n};
pub use super::chart_axes::{HEIGHT, Label, WIDTH};

/// Room for the score labels on the left, the dates below, the labels above the line.
const LEFT: f64 = 34.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 34.0;
const FRAME: Frame = Frame {
    left: LEFT,
    right: RIGHT,
    top: TOP,
    bottom: BOTTOM,
};

/// One day's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub day: NaiveDate,
    pub score: i64,
}

/// A point of the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: String,
    pub y: String,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub score: i64,
}

/// Everything the template draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The polyline's `points`.
    pub line: String,
    pub points: Vec<Point>,
    /// Horizontal guide lines with their score labels (bottom, middle, top).
    pub ticks: Vec<(String, Label)>,
    /// The dates under the axis (first, middle, last day of the range).
    pub dates: Vec<Label>,
    /// The latest point's value, and the lowest one's (when it is another point).
    pub latest: Label,
    pub lowest: Option<Label>,
    /// The axes' corner and ends.
    pub x0: String,
    pub x1: String,
    pub y0: String,
    pub y1: String,
}

/// The largest score (either sign) the chart draws as it is.
const SCORE_BOUND: i64 = 1_000_000;

/// The chart of `days` (oldest first, one per day at most) over `from..=to`; none without a
/// day to draw.
pub fn chart(days: &[Day], from: NaiveDate, to: NaiveDate) -> Option<Chart> {
    // Scores come from the platform (0 to 100 as documented): anything beyond a sane range is
    // drawn at its edge, so the arithmetic below cannot overflow.
    let days: Vec<Day> = days
        .iter()
        .map(|d| Day {
            day: d.day,
            score: d.score.clamp(-SCORE_BOUND, SCORE_BOUND),
        })
        .collect();
    let days = days.as_slice();
    let first = days.first()?;
    let last = days.last()?;
    let (mut lo, mut hi) = days.iter().fold((first.score, first.score), |(lo, hi), d| {
        (lo.min(d.score), hi.max(d.score))
    });
    // A margin of 5 points (10 when flat), kept within 0..100 where the scores are.
    let margin = if hi == lo { 10 } else { 5 };
    lo = (lo - margin).max(0.min(lo));
    hi = (hi + margin).min(100.max(hi));
    if hi <= lo {
        hi = lo + 1;
    }
    let span_days = (to - from).num_days().max(0) as f64;
    let (plot_w, plot_h) = (FRAME.plot_w(), FRAME.plot_h());
    let x_of = |day: NaiveDate| {
        if span_days == 0.0 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * ((day - from).num_days() as f64 / span_days).clamp(0.0, 1.0)
        }
    };
    let y_of = |score: i64| TOP + plot_h * (hi - score) as f64 / (hi - lo) as f64;
    let points: Vec<Point> = days
        .iter()
        .map(|d| Point {
            x: n(x_of(d.day)),
            y: n(y_of(d.score)),
            day: d.day.to_string(),
            score: d.score,
        })
        .collect();
    let line = points
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    let mid = lo + (hi - lo) / 2;
    let ticks = FRAME.ticks([lo, mid, hi].map(|s| (s, y_of(s))));
    let middle = from + chrono::Duration::days((span_days / 2.0) as i64);
    let dates = FRAME.dates(
        from,
        (span_days >= 2.0).then(|| (x_of(middle), middle)),
        (span_days > 0.0).then_some(to),
    );
    // A value's label above its point, kept inside the box.
    let value_label = |d: &Day, below: bool| {
        let x = x_of(d.day);
        let anchor = if x > WIDTH - 40.0 {
            "end"
        } else if x < LEFT + 20.0 {
            "start"
        } else {
            "middle"
        };
        let y = if below {
            (y_of(d.score) + 16.0).min(HEIGHT - BOTTOM - 2.0)
        } else {
            (y_of(d.score) - 8.0).max(12.0)
        };
        Label {
            x: n(x),
            y: n(y),
            text: d.score.to_string(),
            anchor,
        }
    };
    let lowest = days
        .iter()
        .enumerate()
        .min_by_key(|(i, d)| (d.score, std::cmp::Reverse(*i)))
        .filter(|(i, _)| *i + 1 != days.len())
        .map(|(_, d)| value_label(d, true));
    Some(Chart {
        line,
        points,
        ticks,
        dates,
        latest: value_label(last, false),
        lowest,
        x0: n(LEFT),
        x1: n(LEFT + plot_w),
        y0: n(TOP + plot_h),
        y1: n(TOP),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("day")
    }

    #[test]
    fn scores_at_the_ends_of_i64_are_drawn_without_overflow() {
        let days = [
            Day {
                day: day("2026-11-01"),
                score: i64::MIN,
            },
            Day {
                day: day("2026-11-02"),
                score: i64::MAX,
            },
        ];
        let c = chart(&days, day("2026-11-01"), day("2026-11-02")).expect("chart");
        let ys: Vec<f64> = c.points.iter().map(|p| p.y.parse().expect("y")).collect();
        assert!(ys[0] > ys[1], "the lower score sits lower: {ys:?}");
    }

    #[test]
    fn days_run_left_to_right_over_the_range_and_lower_scores_sit_lower() {
        let days = [
            Day {
                day: day("2026-11-01"),
                score: 90,
            },
            Day {
                day: day("2026-11-11"),
                score: 80,
            },
            Day {
                day: day("2026-11-30"),
                score: 95,
            },
        ];
        let c = chart(&days, day("2026-11-01"), day("2026-11-30")).expect("chart");
        let xs: Vec<f64> = c.points.iter().map(|p| p.x.parse().expect("x")).collect();
        let ys: Vec<f64> = c.points.iter().map(|p| p.y.parse().expect("y")).collect();
        assert!((xs[0] - LEFT).abs() < 0.01, "{xs:?}");
        assert!((xs[2] - (WIDTH - RIGHT)).abs() < 0.01, "{xs:?}");
        // 10 of 29 days.
        let expected = LEFT + (WIDTH - LEFT - RIGHT) * 10.0 / 29.0;
        assert!((xs[1] - expected).abs() < 0.06, "{xs:?}");
        assert!(ys[1] > ys[0] && ys[0] > ys[2], "{ys:?}");
        assert!(ys.iter().all(|y| (TOP..=HEIGHT - BOTTOM).contains(y)));
        assert_eq!(c.latest.text, "95");
        assert_eq!(c.lowest.as_ref().map(|l| l.text.as_str()), Some("80"));
        assert_eq!(
            c.line,
            c.points
                .iter()
                .map(|p| format!("{},{}", p.x, p.y))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(
            c.dates.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(),
            ["11-01", "11-15", "11-30"]
        );
    }

    #[test]
    fn one_day_or_a_flat_line_still_draws() {
        let one = [Day {
            day: day("2026-11-27"),
            score: 100,
        }];
        let c = chart(&one, day("2026-11-27"), day("2026-11-27")).expect("chart");
        assert_eq!(c.points.len(), 1);
        assert_eq!(c.lowest, None, "the lowest is the latest");
        assert_eq!(c.ticks.last().map(|t| t.1.text.as_str()), Some("100"));
        assert!(chart(&[], day("2026-11-27"), day("2026-11-27")).is_none());
    }
}
