//! Complaints received per day as stacked bars, one colour per platform: the geometry of a
//! server-rendered inline SVG (drawn by `dashboard.html` with presentation attributes only:
//! the console's CSP allows no style attribute and no inline script). Days run left to right,
//! one slot each over the whole range (a day without complaints is an empty slot); counts run
//! bottom to top from 0 to a round number at or above the busiest day. Laid out in the same
//! 360×200 box as the trade-score chart, which the stylesheet scales to the screen's width.

use chrono::NaiveDate;

use super::chart_axes::{Frame, n};
pub use super::chart_axes::{HEIGHT, Label, WIDTH};

const LEFT: f64 = 30.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 34.0;
const FRAME: Frame = Frame {
    left: LEFT,
    right: 10.0,
    top: TOP,
    bottom: BOTTOM,
};

/// The platforms' colours, in the order the legend lists them (a colour-blind-safe set).
pub const COLOURS: [&str; 6] = [
    "#1a73e8", "#e8710a", "#12b5cb", "#9334e6", "#188038", "#d01884",
];

/// One coloured part of a day's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub colour: &'static str,
    /// `2026-11-27 微信支付: 3`, the bar's tooltip.
    pub title: String,
}

/// Everything the template draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// Guide lines (their y) with the count at each (0, half, top).
    pub ticks: Vec<(String, Label)>,
    pub dates: Vec<Label>,
    pub x0: String,
    pub x1: String,
    pub y0: String,
}

/// The smallest of 1, 2, 5, 10, 20, 50, ... at or above `max` (and at least 2, so the half
/// line is a whole number).
fn round_top(max: usize) -> usize {
    let mut step = 1usize;
    loop {
        for m in [1, 2, 5] {
            let top = step.saturating_mul(m);
            if top >= max.max(2) {
                return top;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The chart of `days` (oldest first: the day and, per series in legend order, its count and
/// its name); None when no day has a complaint.
pub fn chart(days: &[(NaiveDate, Vec<(usize, String)>)]) -> Option<Chart> {
    let busiest = days
        .iter()
        .map(|(_, parts)| parts.iter().map(|(n, _)| *n).sum::<usize>())
        .max()
        .unwrap_or(0);
    if busiest == 0 {
        return None;
    }
    let top = round_top(busiest);
    let (plot_w, plot_h) = (FRAME.plot_w(), FRAME.plot_h());
    let slot = plot_w / days.len().max(1) as f64;
    // A gap between bars when there is room for one.
    let gap = if slot >= 4.0 { slot * 0.2 } else { 0.0 };
    let y_of = |count: usize| TOP + plot_h * (1.0 - count as f64 / top as f64);
    let mut bars = Vec::new();
    for (i, (day, parts)) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + gap / 2.0;
        let mut below = 0usize;
        for (k, (count, name)) in parts.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let (y_top, y_bottom) = (y_of(below + count), y_of(below));
            bars.push(Bar {
                x: n(x),
                y: n(y_top),
                width: n(slot - gap),
                height: n(y_bottom - y_top),
                colour: COLOURS[k % COLOURS.len()],
                title: format!("{day} {name}: {count}"),
            });
            below += count;
        }
    }
    let ticks = FRAME.ticks([0, top / 2, top].map(|c| (c, y_of(c))));
    let centre = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let dates = match (days.first(), days.last()) {
        (Some((first, _)), Some((last, _))) => FRAME.dates(
            *first,
            (days.len() >= 3).then(|| (centre(days.len() / 2), days[days.len() / 2].0)),
            (days.len() >= 2).then_some(*last),
        ),
        _ => Vec::new(),
    };
    Some(Chart {
        bars,
        ticks,
        dates,
        x0: n(LEFT),
        x1: n(LEFT + plot_w),
        y0: n(TOP + plot_h),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).expect("day")
    }

    #[test]
    fn bars_stack_per_day_and_reach_the_busiest_days_height() {
        let days = vec![
            (day(1), vec![(2, "A".into()), (1, "B".into())]),
            (day(2), vec![(0, "A".into()), (0, "B".into())]),
            (day(3), vec![(0, "A".into()), (4, "B".into())]),
        ];
        let c = chart(&days).expect("chart");
        // Day 1 has two parts, day 2 none, day 3 one.
        assert_eq!(c.bars.len(), 3);
        let f = |s: &str| s.parse::<f64>().expect("number");
        let (a, b, c3) = (&c.bars[0], &c.bars[1], &c.bars[2]);
        assert!(a.title.contains("A: 2") && b.title.contains("B: 1"));
        // B sits on A: its bottom is A's top.
        assert!((f(&b.y) + f(&b.height) - f(&a.y)).abs() < 0.11);
        // The top is 5 (4 rounded up): day 3's 4 is 4/5 of the plot, day 1's 3 is 3/5.
        assert_eq!(c.ticks.last().map(|t| t.1.text.as_str()), Some("5"));
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert!((f(&c3.height) - plot_h * 0.8).abs() < 0.11);
        assert!((f(&a.height) + f(&b.height) - plot_h * 0.6).abs() < 0.21);
        assert!(f(&c3.x) > f(&a.x));
        assert_eq!(
            c.dates.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(),
            ["11-01", "11-02", "11-03"]
        );
    }

    #[test]
    fn no_complaint_draws_nothing_and_tops_are_round() {
        assert!(chart(&[(day(1), vec![(0, "A".into())])]).is_none());
        assert_eq!(
            [1, 2, 3, 6, 11, 120, 5000].map(round_top),
            [2, 2, 5, 10, 20, 200, 5000]
        );
    }
}
