//! PARSE_INTENT: the parser agent turns the prompt into an `Intent`; unsupported tasks and
//! prompts with no task stop here with a user error.

use crate::agents::Prompt;
use crate::conductor::run::RunState;
use crate::error::{AutomlError, Result};
use crate::event::{Event, Objective, ParserKind, Stage};

impl RunState {
    pub(crate) async fn parse_intent(&mut self) -> Result<()> {
        self.begin(Stage::ParseIntent, "reading the request")?;
        let intent = self
            .inner
            .parser
            .run(
                Prompt {
                    text: self.req.prompt.clone(),
                    has_data: self.req.data.is_some() || self.req.table.is_some(),
                },
                &self.cx,
            )
            .await?;
        self.emit(Event::PromptParsed(intent.clone()));
        self.intent = Some(intent.clone());
        if !intent.supported {
            return Err(AutomlError::UnsupportedTask {
                task_type: intent.task_type.clone(),
                reason: intent
                    .reason
                    .clone()
                    .unwrap_or_else(|| "not supported".to_string()),
            });
        }
        if self.req.data.is_none()
            && self.req.table.is_none()
            && intent.objective == Objective::Other
            && intent.target.is_none()
            && intent.dataset_hint.is_none()
        {
            return Err(AutomlError::UnusablePrompt {
                reason: if self.req.prompt.trim().is_empty() {
                    "the request is empty".to_string()
                } else {
                    "no prediction task was recognised".to_string()
                },
                understood: intent.understood(),
                needed: "what to predict and from which data, e.g. \"predict price from houses.csv\" with --data FILE, or \"classify iris species\" for a bundled data set".to_string(),
            });
        }
        self.complete(
            Stage::ParseIntent,
            format!(
                "{} ({} parser, confidence {:.2})",
                intent.task_words(),
                match intent.parser {
                    ParserKind::Llm => "llm",
                    ParserKind::Embedded => "embedded",
                },
                intent.confidence
            ),
        );
        Ok(())
    }
}
