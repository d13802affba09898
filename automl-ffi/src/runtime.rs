//! The binding's tokio runtime: started on first use, stopped by [`shutdown`].
//!
//! Every async export spawns its work here and awaits the task's `JoinHandle`, a future that
//! needs no runtime to be polled, so uniffi's foreign executors (asyncio, Kotlin coroutines,
//! Swift tasks) can poll it from any thread. Owning the runtime (rather than uniffi's
//! `async_runtime = "tokio"`, whose runtime lives in a static that is never stopped) is what lets
//! a host stop every tokio thread before it tears itself down: see
//! docs/decisions/0061-uniffi-async-runtime.md.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::AutomlError;

static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);
static STOPPED: AtomicBool = AtomicBool::new(false);
/// The cancel tokens of runs started through the binding, so `shutdown` can stop them.
static RUNS: Mutex<Vec<CancellationToken>> = Mutex::new(Vec::new());

/// How long `shutdown` lets tasks finish after cancelling the runs.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn stopped_error() -> AutomlError {
    AutomlError::Internal {
        code: "runtime_stopped".to_string(),
        detail: "the automl runtime was shut down (shutdown() was called); no further work can \
                 start in this process"
            .to_string(),
        stage: None,
    }
}

/// A handle on the runtime, starting it on first use. After [`shutdown`] this is an error.
pub fn handle() -> Result<Handle, AutomlError> {
    if STOPPED.load(Ordering::SeqCst) {
        return Err(stopped_error());
    }
    let mut rt = lock(&RUNTIME);
    if let Some(r) = rt.as_ref() {
        return Ok(r.handle().clone());
    }
    let r = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("automl-ffi")
        .build()
        .map_err(|e| AutomlError::Internal {
            code: "runtime_start".to_string(),
            detail: format!("cannot start the tokio runtime: {e}"),
            stage: None,
        })?;
    let h = r.handle().clone();
    *rt = Some(r);
    Ok(h)
}

/// Aborts the task when the foreign caller drops the future (an asyncio task cancelled, a
/// Kotlin coroutine cancelled), so no work goes on unseen, e.g. a `next_event` that would take
/// an event nobody receives.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `fut` on the runtime and waits for it from whatever executor polls the result.
pub async fn spawn<T, F>(fut: F) -> Result<T, AutomlError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, AutomlError>> + Send + 'static,
{
    let mut task = AbortOnDrop(handle()?.spawn(fut));
    match (&mut task.0).await {
        Ok(r) => r,
        Err(e) if e.is_cancelled() => Err(stopped_error()),
        Err(e) => Err(AutomlError::Internal {
            code: "internal".to_string(),
            detail: format!("a binding task failed: {e}"),
            stage: None,
        }),
    }
}

/// Remembers a run's cancel token for [`shutdown`], forgetting runs that have ended.
pub fn track(cancel: CancellationToken) {
    let mut runs = lock(&RUNS);
    runs.retain(|c| !c.is_cancelled());
    runs.push(cancel);
}

/// Stops the binding's runtime: cancels every run still going, gives tasks a short grace
/// period, then stops every tokio thread. Idempotent. Call it before the host tears itself
/// down (Python: `atexit.register(automl_ffi.shutdown)`; JVM: a shutdown hook), so no tokio
/// thread calls back into a host that is half gone. Every call into the binding after it is an
/// `Internal` error with code `runtime_stopped`.
#[uniffi::export]
pub fn shutdown() {
    STOPPED.store(true, Ordering::SeqCst);
    for c in lock(&RUNS).drain(..) {
        c.cancel();
    }
    let rt = lock(&RUNTIME).take();
    if let Some(rt) = rt {
        rt.shutdown_timeout(SHUTDOWN_GRACE);
    }
}

/// True once [`shutdown`] was called.
#[uniffi::export]
pub fn is_shut_down() -> bool {
    STOPPED.load(Ordering::SeqCst)
}
