//! A figure: one measured quantity, with a cell of rounds per server, medians and ratios.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::servers::Who;

#[derive(Debug, Clone, Default)]
pub(crate) struct Cell {
    /// One value per round.
    pub(crate) values: Vec<f64>,
    /// Extra measures per round (p50, p99, loss, ...), reported from the median round.
    pub(crate) extra: Vec<BTreeMap<String, f64>>,
}

impl Cell {
    pub(crate) fn push(&mut self, v: f64, extra: BTreeMap<String, f64>) {
        self.values.push(v);
        self.extra.push(extra);
    }

    pub(crate) fn median_index(&self) -> Option<usize> {
        let mut idx: Vec<usize> = (0..self.values.len()).collect();
        idx.sort_by(|a, b| self.values[*a].total_cmp(&self.values[*b]));
        idx.get(idx.len() / 2).copied()
    }

    pub(crate) fn median(&self) -> Option<f64> {
        self.median_index().map(|i| self.values[i])
    }

    pub(crate) fn json(&self) -> Value {
        let Some(i) = self.median_index() else {
            return Value::Null;
        };
        let min = self.values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = self
            .values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        json!({"median": self.values[i], "min": min, "max": max, "rounds": self.values, "at_median": self.extra[i]})
    }
}

pub(crate) struct Figure {
    pub(crate) name: String,
    pub(crate) unit: &'static str,
    pub(crate) higher_is_better: bool,
    pub(crate) cells: BTreeMap<Who, Cell>,
}

impl Figure {
    pub(crate) fn new(name: impl Into<String>, unit: &'static str, higher_is_better: bool) -> Self {
        Self {
            name: name.into(),
            unit,
            higher_is_better,
            cells: BTreeMap::new(),
        }
    }

    pub(crate) fn cell(&mut self, who: Who) -> &mut Cell {
        self.cells.entry(who).or_default()
    }

    /// socketlab / baseline, for a higher-is-better figure; baseline / socketlab otherwise,
    /// so above 1 always means socketlab did better.
    pub(crate) fn ratio(&self) -> Option<f64> {
        self.ratio_of(Who::Socketlab)
    }

    /// [`Figure::ratio`] for one of socketlab's columns.
    pub(crate) fn ratio_of(&self, who: Who) -> Option<f64> {
        let s = self.cells.get(&who)?.median()?;
        let b = self.cells.get(&Who::Baseline)?.median()?;
        if self.higher_is_better {
            Some(s / b)
        } else {
            Some(b / s)
        }
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "figure": self.name,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "socketlab": self.cells.get(&Who::Socketlab).map(Cell::json),
            "socketlab_live_viewer": self.cells.get(&Who::Live).map(Cell::json),
            "socketlab_all_viewer": self.cells.get(&Who::All).map(Cell::json),
            "baseline": self.cells.get(&Who::Baseline).map(Cell::json),
            "socat": self.cells.get(&Who::Socat).map(Cell::json),
            "ratio": self.ratio(),
            "ratio_live_viewer": self.ratio_of(Who::Live),
            "ratio_all_viewer": self.ratio_of(Who::All),
        })
    }
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64
}

pub(crate) fn lat_extra(mut lat: Vec<u64>) -> BTreeMap<String, f64> {
    lat.sort_unstable();
    BTreeMap::from([
        ("p50_us".to_string(), percentile(&lat, 0.50)),
        ("p99_us".to_string(), percentile(&lat, 0.99)),
        ("p999_us".to_string(), percentile(&lat, 0.999)),
    ])
}

/// The order servers run in, rotated each round so none always goes first.
pub(crate) fn order<T: Copy>(round: usize, who: &[T]) -> Vec<T> {
    let mut v = who.to_vec();
    let n = v.len();
    v.rotate_left(round % n);
    v
}

/// CPU time process `pid` has used (all its threads, user and system), in µs: a server's
/// cost per round trip, which the machine's noise moves far less than its throughput.
pub(crate) fn cpu_us_of(pid: u32) -> f64 {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command (which may hold spaces) end with ')'.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // The kernel reports in clock ticks, 100 a second on Linux.
    ticks as f64 * 10_000.0
}

pub(crate) fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}
