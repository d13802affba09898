//! Small word helpers shared by the profile and the agents.

/// Reduces a plural noun to its singular by common English rules ("prices" → "price").
pub fn singular(word: &str) -> String {
    const KEEP: &[&str] = &[
        "species",
        "series",
        "news",
        "diabetes",
        "status",
        "analysis",
        "class",
        "mass",
        "gross",
        "loss",
        "glass",
        "address",
        "virus",
        "bus",
        "gas",
        "bias",
        "axis",
        "corpus",
        "census",
        "genus",
        "sales",
        "stats",
        "physics",
        "economics",
        "is",
        "was",
        "has",
        "this",
        "yes",
        "its",
        "lens",
        "iris",
    ];
    let w = word.to_ascii_lowercase();
    if KEEP.contains(&w.as_str()) || w.len() <= 3 {
        return w;
    }
    if let Some(stem) = w.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for suf in ["sses", "xes", "ches", "shes", "zes"] {
        if w.ends_with(suf) {
            return w[..w.len() - 2].to_string();
        }
    }
    if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        return w[..w.len() - 1].to_string();
    }
    w
}
