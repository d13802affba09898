//! The horizon as people write it: "the next 14 days", "6 months ahead", "two weeks", "next
//! week", "a 12-step horizon"; converted to steps at the data's frequency.

use std::sync::LazyLock;

use regex::Regex;

use super::{Frequency, TimeKind};

/// A time unit of a horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// Weeks.
    Week,
    /// Months.
    Month,
    /// Quarters.
    Quarter,
    /// Years.
    Year,
    /// Steps of the data (`steps`, `periods`, `points`).
    Step,
}

/// A horizon read from a prompt: `count` of `unit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Horizon {
    /// How many.
    pub count: f64,
    /// Of what.
    pub unit: Unit,
}

const UNIT: &str = r"(minutes?|hours?|days?|weeks?|months?|quarters?|years?|steps?|periods?|points?|time\s*steps?)";
const NUMBER: &str = r"(\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|twenty|thirty|few|couple\s+of)";

/// Numbered forms, most specific first: "next 14 days", "6 months ahead", then "two weeks".
static NUMBERED: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        format!(r"(?i)\b(?:next|coming|following|upcoming|over|within)\s+(?:the\s+)?{NUMBER}[\s-]+{UNIT}\b"),
        format!(r"(?i)\b{NUMBER}[\s-]+{UNIT}\s+(?:ahead|out|into\s+the\s+future|horizon)\b"),
        format!(r"(?i)\b{NUMBER}[\s-]+{UNIT}\b"),
    ]
    .map(|r| Regex::new(&r).expect("static regex"))
});
static NEXT_UNIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b(?:next|coming|following|upcoming)\s+{UNIT}\b"
    ))
    .expect("static regex")
});
static HORIZON_N: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bhorizon\s+(?:of\s+)?(\d+)\b").expect("static regex"));

fn number(s: &str) -> Option<f64> {
    let s = s.trim().to_ascii_lowercase();
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    Some(match s.split_whitespace().next()? {
        "a" | "an" | "one" => 1.0,
        "two" | "couple" => 2.0,
        "three" | "few" => 3.0,
        "four" => 4.0,
        "five" => 5.0,
        "six" => 6.0,
        "seven" => 7.0,
        "eight" => 8.0,
        "nine" => 9.0,
        "ten" => 10.0,
        "eleven" => 11.0,
        "twelve" => 12.0,
        "thirteen" => 13.0,
        "fourteen" => 14.0,
        "fifteen" => 15.0,
        "twenty" => 20.0,
        "thirty" => 30.0,
        _ => return None,
    })
}

fn unit(s: &str) -> Option<Unit> {
    let s = s.to_ascii_lowercase();
    Some(match s.trim_end_matches('s') {
        "minute" => Unit::Minute,
        "hour" => Unit::Hour,
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        "quarter" => Unit::Quarter,
        "year" => Unit::Year,
        _ if s.contains("step") || s.starts_with("period") || s.starts_with("point") => Unit::Step,
        _ => return None,
    })
}

/// The horizon a prompt asks for, if it says one.
pub fn parse(prompt: &str) -> Option<Horizon> {
    let numbered = |re: &Regex| {
        let c = re.captures(prompt)?;
        let count = number(c.get(1)?.as_str())?;
        let unit = unit(c.get(2)?.as_str())?;
        (count > 0.0).then_some(Horizon { count, unit })
    };
    let [next_n, n_ahead, any_n] = &*NUMBERED;
    numbered(next_n)
        .or_else(|| numbered(n_ahead))
        .or_else(|| {
            let c = NEXT_UNIT.captures(prompt)?;
            unit(&c[1]).map(|unit| Horizon { count: 1.0, unit })
        })
        .or_else(|| {
            let c = HORIZON_N.captures(prompt)?;
            Some(Horizon {
                count: c[1].parse().ok()?,
                unit: Unit::Step,
            })
        })
        .or_else(|| numbered(any_n))
}

impl Horizon {
    /// The horizon in steps of `freq` (at least 1).
    pub fn steps(&self, freq: &Frequency, kind: TimeKind) -> usize {
        let months = match self.unit {
            Unit::Month => Some(1.0),
            Unit::Quarter => Some(3.0),
            Unit::Year => Some(12.0),
            _ => None,
        };
        let seconds = match self.unit {
            Unit::Minute => 60.0,
            Unit::Hour => 3600.0,
            Unit::Day => 86_400.0,
            Unit::Week => 604_800.0,
            Unit::Month => 30.436_875 * 86_400.0,
            Unit::Quarter => 91.310_625 * 86_400.0,
            Unit::Year => 365.2425 * 86_400.0,
            Unit::Step => 0.0,
        };
        let steps = if self.unit == Unit::Step || kind == TimeKind::Index {
            self.count
        } else if freq.months > 0 {
            match months {
                Some(m) => self.count * m / f64::from(freq.months),
                None => self.count * seconds / (30.436_875 * 86_400.0 * f64::from(freq.months)),
            }
        } else {
            self.count * seconds / freq.step.max(1) as f64
        };
        (steps.round() as usize).max(1)
    }
}

/// The horizon when the request names none: a season's worth where there is one (two weeks
/// for daily data), else a few steps.
pub fn default_for(freq: &Frequency) -> usize {
    match (freq.months, freq.step) {
        (1, _) => 12,
        (3, _) => 4,
        (12, _) => 3,
        (0, 86_400) => 14,
        (0, 604_800) => 8,
        (0, 3600) => 24,
        _ => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(prompt: &str, freq: &Frequency) -> Option<usize> {
        parse(prompt).map(|h| h.steps(freq, TimeKind::Datetime))
    }

    #[test]
    fn reads_horizons_as_people_write_them() {
        let daily = Frequency::from_seconds(86_400);
        let monthly = Frequency::from_seconds(31 * 86_400);
        let hourly = Frequency::from_seconds(3600);
        assert_eq!(
            steps("forecast daily sales for the next 14 days", &daily),
            Some(14)
        );
        assert_eq!(steps("predict demand 6 months ahead", &monthly), Some(6));
        assert_eq!(
            steps("forecast the next two weeks of sales", &daily),
            Some(14)
        );
        assert_eq!(
            steps("forecast electricity for the next week", &hourly),
            Some(168)
        );
        assert_eq!(steps("forecast next month", &daily), Some(30));
        assert_eq!(steps("forecast the next 2 years", &monthly), Some(24));
        assert_eq!(steps("forecast with a horizon of 9", &daily), Some(9));
        assert_eq!(steps("forecast sales 3 steps ahead", &monthly), Some(3));
        assert_eq!(steps("forecast daily sales", &daily), None);
        assert_eq!(
            steps("using 3 years of data, forecast the next 14 days", &daily),
            Some(14)
        );
    }

    #[test]
    fn defaults_follow_the_frequency() {
        assert_eq!(default_for(&Frequency::from_seconds(86_400)), 14);
        assert_eq!(default_for(&Frequency::from_seconds(30 * 86_400)), 12);
        assert_eq!(default_for(&Frequency::index(1)), 10);
    }
}
