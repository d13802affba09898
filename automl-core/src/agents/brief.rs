//! A brief cut into sections by role: a title, the task statement, "Evaluation", the
//! submission format, "Data", untitled text and background story. The embedded parser weighs
//! evidence by these roles; the LLM parser sends a long brief as its weighted sections.

use std::sync::LazyLock;

use regex::Regex;

/// The role of a section in a brief, from its heading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The first line of a brief when it reads like a title.
    Title,
    /// How submissions are scored.
    Evaluation,
    /// What a submission file holds.
    Submission,
    /// What the data is: files, columns, fields.
    Data,
    /// What is asked: overview, description, task, goal.
    Task,
    /// Story, sponsors, timeline, prizes, citations.
    Background,
    /// No heading.
    Body,
}

impl Role {
    /// The role's name, as the LLM sees it in a condensed brief.
    pub fn name(self) -> &'static str {
        match self {
            Role::Title => "title",
            Role::Evaluation => "evaluation",
            Role::Submission => "submission",
            Role::Data => "data",
            Role::Task => "task",
            Role::Background => "background",
            Role::Body => "text",
        }
    }

    /// (weight for modality evidence, weight for objective and task evidence).
    pub fn weights(self) -> (f64, f64) {
        match self {
            Role::Title => (2.0, 2.0),
            Role::Evaluation => (0.6, 2.5),
            Role::Submission => (1.0, 1.5),
            Role::Data => (1.8, 1.0),
            Role::Task => (1.2, 1.3),
            Role::Background => (0.3, 0.3),
            Role::Body => (1.0, 1.0),
        }
    }
}

/// A part of the request with its role.
#[derive(Debug, Clone)]
pub struct Section {
    /// How the section is weighed.
    pub role: Role,
    /// The lower-cased text (heading included).
    pub text: String,
}

static HEADING_ROLE: LazyLock<Vec<(Regex, Role)>> = LazyLock::new(|| {
    let r = |p: &str| Regex::new(p).expect("static regex");
    vec![
        // A dataset card's "Supported Tasks and Leaderboards" and "Dataset Summary" say what
        // the data is for: they are the task statement, whatever other heading words they hold.
        (r(r"supported tasks|^(dataset )?summary$"), Role::Task),
        (
            r(
                r"citation|timeline|prize|acknowledg|sponsor|organi[sz]|team|faq|frequently|notebook|kernel|rules|licen[cs]e|about|background|context|contact|history|motivation|impact|bias|limitation|curat|contribut|creation|annotation|source data|considerations|leaderboard|paper|homepage",
            ),
            Role::Background,
        ),
        (r(r"evaluat|metric|scor"), Role::Evaluation),
        (r(r"submi"), Role::Submission),
        (
            r(r"data|file|column|field|feature|instance|structure|format|variable|attribute|input"),
            Role::Data,
        ),
        (
            r(
                r"overview|descri|task|goal|objective|problem|summary|challenge|what (am i|are we|to) predict|target|label|introduction",
            ),
            Role::Task,
        ),
    ]
});

/// Phrases whose words would count for the wrong thing ("hate speech" is text, not sound),
/// joined into one token before the evidence is searched.
const FIXED_PHRASES: &[(&str, &str)] = &[
    ("hate speech", "hate_speech"),
    ("free speech", "free_speech"),
    ("parts of speech", "parts_of_speech"),
    ("part of speech", "part_of_speech"),
    ("part-of-speech", "part_of_speech"),
    ("speech act", "speech_act"),
    ("figure of speech", "figure_of_speech"),
    // How a data set was made, not the task asked: "translations of the English original",
    // "machine translated", "the drawing's bounding box".
    ("translations of", "translated_versions_of"),
    ("translation has been done", "translated_by"),
    ("machine translated", "machine_translated"),
    ("machine-translated", "machine_translated"),
    ("'s bounding box", "s_extent"),
];

/// A line that starts with a label word and a colon ("Target: price in dollars").
static LABEL_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(target|label|goal|objective|task|evaluation|metric|evaluation metric)\s*:\s*\S")
        .expect("static regex")
});

/// Words that a bare (not `#`-marked) heading line starts with.
static BARE_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(overview|description|evaluation|metric|submission|data|dataset|files?|columns|background|context|acknowledg|about|timeline|prizes?|task|goal|problem|summary|target|features|supported tasks|what am i predicting)")
        .expect("static regex")
});

fn role_of(heading: &str) -> Role {
    HEADING_ROLE
        .iter()
        .find(|(re, _)| re.is_match(heading))
        .map(|(_, r)| *r)
        .unwrap_or(Role::Body)
}

/// Cuts a request into sections by markdown headings (`# ...`) and by short bare heading
/// lines ("Evaluation", "Data Description"). A short first line with no final full stop is
/// the title.
pub fn sections(text: &str) -> Vec<Section> {
    let mut lower = text.to_lowercase();
    for (from, to) in FIXED_PHRASES {
        if lower.contains(from) {
            lower = lower.replace(from, to);
        }
    }
    let mut out: Vec<Section> = Vec::new();
    let mut cur = Section {
        role: Role::Body,
        text: String::new(),
    };
    let mut first_line = true;
    for line in lower.lines() {
        let t = line.trim();
        if t.is_empty() {
            cur.text.push('\n');
            continue;
        }
        let md = t.starts_with('#');
        let h = t.trim_start_matches('#').trim().trim_matches('*').trim();
        let bare = !md
            && h.len() <= 40
            && !h.ends_with(['.', ',', ';', ':', '?', '!'])
            && BARE_HEADING.is_match(h);
        if let Some(c) = LABEL_LINE.captures(t) {
            if !cur.text.trim().is_empty() {
                out.push(cur);
            }
            cur = Section {
                role: role_of(&c[1]),
                text: format!("{t}\n"),
            };
            first_line = false;
            continue;
        }
        if md || bare {
            if !cur.text.trim().is_empty() {
                out.push(cur);
            }
            cur = Section {
                role: role_of(h),
                text: format!("{h}\n"),
            };
            first_line = false;
            continue;
        }
        if first_line {
            first_line = false;
            // A first line that holds a finished sentence, or that the next line continues in
            // lower case, is the start of a hard-wrapped paragraph, not a title.
            let prose = t.contains(". ") || t.contains("? ") || t.contains("! ");
            let continued = text
                .lines()
                .nth(1)
                .and_then(|l| l.trim_start().chars().next())
                .is_some_and(|c| c.is_lowercase());
            let title =
                t.len() <= 100 && !t.ends_with(['.', '?', '!', ':']) && !prose && !continued;
            if title && lower.trim().len() > t.len() + 40 {
                out.push(Section {
                    role: Role::Title,
                    text: format!("{t}\n"),
                });
                continue;
            }
        }
        cur.text.push_str(t);
        cur.text.push('\n');
    }
    if !cur.text.trim().is_empty() {
        out.push(cur);
    }
    out
}

/// The longest request, in characters, that goes to an LLM whole; a longer brief goes as its
/// sections by weight (see [`condense`]).
pub const LONG_BRIEF_CHARS: usize = 8000;

/// A long brief cut down to `budget` characters for an LLM: the title, the task statement, the
/// evaluation, the submission format and the data description first, then untitled text,
/// background last (dropped when over budget). Each section is marked with its role, e.g.
/// `[evaluation]`. A request within the budget is returned whole.
pub fn condense(text: &str, budget: usize) -> String {
    if text.chars().count() <= budget {
        return text.to_string();
    }
    let order = |r: Role| match r {
        Role::Title => 0,
        Role::Task => 1,
        Role::Evaluation => 2,
        Role::Submission => 3,
        Role::Data => 4,
        Role::Body => 5,
        Role::Background => 6,
    };
    let mut secs = sections(text);
    secs.sort_by_key(|s| order(s.role));
    let mut out = String::new();
    for s in secs {
        let head = format!("[{}]\n", s.role.name());
        let room = budget.saturating_sub(out.chars().count() + head.len() + 2);
        if room < 80 {
            break;
        }
        out.push_str(&head);
        let body: String = s.text.trim().chars().take(room).collect();
        out.push_str(&body);
        out.push_str("\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hard_wrapped_first_line_is_not_a_title() {
        let wrapped = "We keep the repair orders of our garages and want the cost of each\nrepair estimated from the car model, the part and the labour hours booked.";
        assert!(sections(wrapped).iter().all(|s| s.role != Role::Title));
        let prose = "Bike counts. We count bikes at 40 crossings\nand want tomorrow's counts for each crossing, from the weather forecast.";
        assert!(sections(prose).iter().all(|s| s.role != Role::Title));
        let titled = "Bike counts at crossings\nWe count bikes at 40 crossings and want tomorrow's counts for each one.";
        assert_eq!(sections(titled)[0].role, Role::Title);
    }

    #[test]
    fn short_requests_go_whole() {
        assert_eq!(
            condense("predict house prices", 100),
            "predict house prices"
        );
    }

    #[test]
    fn long_briefs_keep_the_weighty_sections_first_within_the_budget() {
        let text = format!(
            "Leaf Classification\n\n## Background\n{}\n\n## Evaluation\nSubmissions are scored on log loss.\n\n## Data\nThe images are in images/.\n",
            "A story about trees. ".repeat(200)
        );
        let c = condense(&text, 1000);
        assert!(c.chars().count() <= 1000, "{}", c.len());
        let eval = c.find("[evaluation]").expect("evaluation kept");
        let data = c.find("[data]").expect("data kept");
        assert!(c.starts_with("[title]"), "{c}");
        assert!(eval < data);
        if let Some(bg) = c.find("[background]") {
            assert!(bg > data);
        }
    }

    #[test]
    fn label_lines_and_bare_headings_start_sections() {
        let s = sections(
            "Some words about a company and what it does every day for its clients.\nEvaluation\nWe use RMSE.\nTarget: the price of the house",
        );
        let roles: Vec<Role> = s.iter().map(|s| s.role).collect();
        assert_eq!(roles, vec![Role::Body, Role::Evaluation, Role::Task]);
    }
}
