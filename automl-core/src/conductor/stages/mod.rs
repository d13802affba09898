//! One file per stage, each an `impl RunState` block; `run.rs` calls them in order.

mod data_source;
mod export;
mod model_select;
mod parse_intent;
mod preprocess;
mod profile_data;
mod review_edit;
mod train;
