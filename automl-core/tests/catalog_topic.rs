//! The bundled catalog never hands over a confident model of the wrong thing: a data set whose
//! target has the asked-for name but whose subject is another ("house prices" vs diamonds,
//! "salary of employees" vs census income) is not chosen, and the answer says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use automl_core::EventBus;
use automl_core::agents::finders::DatasetQuery;
use automl_core::agents::finders::catalog::CatalogFinder;
use automl_core::agents::parser::parse;
use automl_core::agents::{Agent, RunSettings, StageContext};

fn catalog() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets")
}

async fn choose(prompt: &str) -> (Option<String>, Option<String>) {
    let bus = EventBus::default();
    let cx = StageContext {
        emitter: bus.emitter("t"),
        cancel: Default::default(),
        settings: Arc::new(RunSettings {
            seed: 0,
            time_budget_s: 1.0,
            max_trials: None,
            run_dir: PathBuf::from("."),
            catalog_dir: Some(catalog()),
        }),
    };
    let choice = CatalogFinder::new(Some(catalog()))
        .run(
            DatasetQuery {
                intent: parse(prompt),
                data: None,
                allow_restricted: false,
            },
            &cx,
        )
        .await
        .expect("the finder answers");
    (choice.chosen.map(|c| c.id), choice.why_none)
}

#[tokio::test]
async fn a_target_name_alone_does_not_pick_a_data_set_about_something_else() {
    let (chosen, why) = choose("predict house prices").await;
    assert_eq!(chosen, None, "house prices are not diamonds");
    let why = why.expect("a reason");
    assert!(why.contains("diamonds") && why.contains("house"), "{why}");

    let (chosen, _) = choose("predict salary from employee data").await;
    assert_eq!(chosen, None, "employee salaries are not census incomes");
}

#[tokio::test]
async fn requests_about_a_bundled_subject_still_find_it() {
    for (prompt, id) in [
        ("predict diamond prices", "diamonds"),
        ("classify iris species", "iris"),
        (
            "predict whether income is above 50K from census data",
            "adult",
        ),
        (
            "classify penguin species from body measurements",
            "penguins",
        ),
        ("detect spam in these SMS messages", "sms_spam"),
        ("recognise handwritten digits", "digits"),
        ("Build a cat/dog classifier", "cats_dogs"),
    ] {
        let (chosen, why) = choose(prompt).await;
        assert_eq!(chosen.as_deref(), Some(id), "{prompt}: {why:?}");
    }
    // No subject at all: the target's name is all there is to go on.
    let (chosen, _) = choose("predict price").await;
    assert_eq!(chosen.as_deref(), Some("diamonds"));
}
