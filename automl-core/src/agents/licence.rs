//! The licence policy: which data sets may be used, and why.
//!
//! Allowed: MIT, Apache-2.0, BSD-2-Clause, BSD-3-Clause, CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0.
//! Restricted (research/demo use only, flagged): CC-BY-NC-4.0. Everything else is rejected:
//! GPL, AGPL, CC-BY-ND, proprietary, `other`, unknown or missing. A list of licences is as
//! strict as its strictest member.

use serde::{Deserialize, Serialize};

/// The policy's answer for one data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// May be used.
    Allowed,
    /// Research/demo use only; flagged in events and the model card.
    Restricted,
    /// May not be used.
    Rejected,
}

impl Verdict {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Restricted => "restricted",
            Verdict::Rejected => "rejected",
        }
    }
}

/// A verdict with the normalised licence id and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceDecision {
    /// SPDX-style id after normalisation (`unknown` when none was found).
    pub license: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
}

const ALLOWED: &[&str] = &[
    "MIT",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC0-1.0",
];

/// Normalises a licence string to an SPDX-like id: `cc-by-4.0`, `CC BY 4.0`, `cc_by_4_0`,
/// `Creative Commons Attribution 4.0` all become `CC-BY-4.0`.
pub fn normalise(raw: &str) -> String {
    let s = raw.trim();
    if s.is_empty() {
        return "unknown".to_string();
    }
    let mut t = s.to_ascii_lowercase();
    for (long, short) in [
        ("creative commons", "cc"),
        ("attribution", "by"),
        ("sharealike", "sa"),
        ("share-alike", "sa"),
        ("share alike", "sa"),
        ("noncommercial", "nc"),
        ("non-commercial", "nc"),
        ("noderivatives", "nd"),
        ("no derivatives", "nd"),
        ("noderivs", "nd"),
        ("international", ""),
        ("license", ""),
        ("licence", ""),
        ("public domain dedication", ""),
        ("universal", ""),
    ] {
        t = t.replace(long, short);
    }
    let tokens: Vec<String> = t
        .split(|c: char| c == ' ' || c == '-' || c == '_' || c == '/' || c == ',')
        .filter(|x| !x.is_empty())
        .map(|x| x.to_string())
        .collect();
    let joined = tokens.join("-");
    let j = joined
        .replace("-0-", ".0-")
        .replace("4-0", "4.0")
        .replace("3-0", "3.0")
        .replace("2-0", "2.0")
        .replace("1-0", "1.0");
    let id = match j.as_str() {
        "mit" => "MIT",
        "apache-2.0" | "apache2" | "apache-2" | "apache" | "apache2.0" => "Apache-2.0",
        "bsd-2-clause" | "bsd-2" | "bsd2" | "simplified-bsd" | "freebsd" => "BSD-2-Clause",
        "bsd-3-clause" | "bsd-3" | "bsd3" | "new-bsd" | "modified-bsd" | "bsd" => "BSD-3-Clause",
        "cc-by-4.0" | "cc-by-4" | "ccby-4.0" => "CC-BY-4.0",
        "cc-by-sa-4.0" | "cc-by-sa-4" => "CC-BY-SA-4.0",
        "cc0-1.0" | "cc0" | "cc-0" | "cc-zero" | "cc0-1" | "cc-0-1.0" => "CC0-1.0",
        "cc-by-nc-4.0" | "cc-by-nc-4" => "CC-BY-NC-4.0",
        "cc-by-3.0" => "CC-BY-3.0",
        "cc-by-sa-3.0" => "CC-BY-SA-3.0",
        "cc-by-nc-sa-4.0" => "CC-BY-NC-SA-4.0",
        "cc-by-nd-4.0" => "CC-BY-ND-4.0",
        "cc-by-nc-nd-4.0" => "CC-BY-NC-ND-4.0",
        "gpl-3.0" | "gpl-3" | "gpl3" | "gplv3" | "gpl" | "gpl-3.0-only" | "gpl-3.0-or-later" => {
            "GPL-3.0"
        }
        "gpl-2.0" | "gpl-2" | "gplv2" | "gpl-2.0-only" | "gpl-2.0-or-later" => "GPL-2.0",
        "agpl-3.0" | "agpl" | "agpl-3" | "agplv3" | "agpl-3.0-only" => "AGPL-3.0",
        "lgpl-3.0" | "lgpl" | "lgpl-2.1" => "LGPL",
        "other" => "other",
        "unknown" | "none" | "n/a" | "na" | "unspecified" => "unknown",
        "proprietary" | "commercial" | "all-rights-reserved" => "proprietary",
        "odbl" | "odbl-1.0" => "ODbL-1.0",
        "openrail" => "openrail",
        _ => return s.to_string(),
    };
    id.to_string()
}

/// Decides one licence string (or a comma/`AND`-separated list, decided by its strictest member).
/// `restricted_ok` is true for research/demo use, where CC-BY-NC-4.0 is allowed with a flag.
pub fn decide(raw: Option<&str>) -> LicenceDecision {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return LicenceDecision {
            license: "unknown".to_string(),
            verdict: Verdict::Rejected,
            reason: "no licence stated; unknown licences are rejected".to_string(),
        };
    };
    let parts: Vec<&str> = raw
        .split([';', '|'])
        .flat_map(|p| p.split(" AND "))
        .flat_map(|p| p.split(" and "))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let decisions: Vec<LicenceDecision> = parts.iter().map(|p| decide_one(p)).collect();
    if decisions.len() == 1 {
        return decisions.into_iter().next().expect("one element");
    }
    let worst = decisions
        .iter()
        .max_by_key(|d| match d.verdict {
            Verdict::Allowed => 0,
            Verdict::Restricted => 1,
            Verdict::Rejected => 2,
        })
        .cloned()
        .expect("non-empty");
    LicenceDecision {
        license: decisions
            .iter()
            .map(|d| d.license.clone())
            .collect::<Vec<_>>()
            .join(" AND "),
        verdict: worst.verdict,
        reason: format!(
            "a list of licences is as strict as its strictest: {}",
            worst.reason
        ),
    }
}

fn decide_one(raw: &str) -> LicenceDecision {
    let id = normalise(raw);
    let (verdict, reason) = if ALLOWED.contains(&id.as_str()) {
        (Verdict::Allowed, format!("{id} is on the allowed list"))
    } else if id == "CC-BY-NC-4.0" {
        (
            Verdict::Restricted,
            "CC-BY-NC-4.0 allows non-commercial use only: research/demo use, flagged".to_string(),
        )
    } else if id.contains("GPL") {
        (
            Verdict::Rejected,
            format!("{id} is copyleft for code and rejected for data"),
        )
    } else if id.contains("-ND") {
        (
            Verdict::Rejected,
            format!("{id} forbids derivatives, and a trained model is one"),
        )
    } else if id == "other" {
        (
            Verdict::Rejected,
            "licence \"other\" does not say what is permitted; rejected".to_string(),
        )
    } else if id == "unknown" {
        (Verdict::Rejected, "licence unknown; rejected".to_string())
    } else if id == "proprietary" {
        (
            Verdict::Rejected,
            "proprietary data may not be used".to_string(),
        )
    } else {
        (
            Verdict::Rejected,
            format!(
                "{id} is not on the allowed list (MIT, Apache-2.0, BSD-2/3-Clause, CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0)"
            ),
        )
    };
    LicenceDecision {
        license: id,
        verdict,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_normalise() {
        for s in [
            "cc-by-4.0",
            "CC BY 4.0",
            "cc_by_4_0",
            "Creative Commons Attribution 4.0 International",
            "CC-BY-4.0",
        ] {
            assert_eq!(normalise(s), "CC-BY-4.0", "{s}");
        }
        assert_eq!(normalise("apache-2.0"), "Apache-2.0");
        assert_eq!(normalise("bsd-3-clause"), "BSD-3-Clause");
        assert_eq!(normalise("cc0-1.0"), "CC0-1.0");
        assert_eq!(normalise("CC BY-SA 4.0"), "CC-BY-SA-4.0");
    }

    #[test]
    fn verdicts() {
        assert_eq!(decide(Some("MIT")).verdict, Verdict::Allowed);
        assert_eq!(decide(Some("cc-by-nc-4.0")).verdict, Verdict::Restricted);
        assert_eq!(decide(Some("gpl-3.0")).verdict, Verdict::Rejected);
        assert_eq!(decide(Some("other")).verdict, Verdict::Rejected);
        assert_eq!(decide(None).verdict, Verdict::Rejected);
        assert_eq!(decide(Some("CC-BY-SA-3.0")).verdict, Verdict::Rejected);
        assert_eq!(decide(Some("cc-by-nd-4.0")).verdict, Verdict::Rejected);
        let d = decide(Some("MIT AND GPL-3.0"));
        assert_eq!(d.verdict, Verdict::Rejected);
        assert!(d.reason.contains("strictest"));
    }
}
