//! MODEL_SELECT's default agent: ranks the trainers' candidates, cheapest first, as a
//! cost-frugal search does (cheap models give a baseline early; dear ones refine it).

use async_trait::async_trait;

use super::{Agent, SelectionInput, StageContext};
use crate::error::Result;
use crate::event::ModelCandidate;

/// Ranks candidates by estimated cost, cheapest first.
#[derive(Debug, Clone, Default)]
pub struct CostFirstSelector;

#[async_trait]
impl Agent<SelectionInput, Vec<ModelCandidate>> for CostFirstSelector {
    fn name(&self) -> &str {
        "cost_first"
    }

    async fn run(&self, input: SelectionInput, _cx: &StageContext) -> Result<Vec<ModelCandidate>> {
        let mut c = input.candidates;
        c.sort_by(|a, b| a.estimated_cost_s.total_cmp(&b.estimated_cost_s));
        Ok(c)
    }
}
