//! Inference off the async workers: a pool of ONNX Runtime sessions, each owned by one thread,
//! fed from one queue with adaptive micro-batching.
//!
//! `Session::run` takes `&mut self`, so each session lives on its own thread. A thread takes the
//! first queued job and every job queued behind it (up to `max_batch_rows` rows) and runs them
//! as one `[N, features]` call: on the trained blend a single-row call costs ~30 µs where a row
//! inside a 256-row batch costs ~13.5 µs. Under load jobs pile up while a call runs, so batches
//! form by themselves without waiting. A thread waits (at most `max_wait`) only when requests
//! are known to be on their way — admitted by a handler and not yet queued ([`Arrival`]) — so a
//! lone client never pays for batching.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::oneshot;
use velocast_runtime::{RuntimeError, TreeSession};

#[derive(Debug, Error)]
pub enum PoolError {
    #[error("the model is being unloaded")]
    Closed,
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("the model returned {got} values for {rows} rows")]
    Outputs { rows: usize, got: usize },
    #[error("the native evaluator: {0}")]
    Native(String),
}

/// How batches are formed.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    pub max_batch_rows: usize,
    pub max_wait: Duration,
}

/// What one request got back, with where its time went.
#[derive(Debug)]
pub struct Scored {
    pub values: Vec<f32>,
    /// From queueing to the start of the ONNX Runtime call.
    pub queued: Duration,
    /// The ONNX Runtime call (shared by the whole batch).
    pub inference: Duration,
    /// Rows in the call this request rode in.
    pub batch_rows: usize,
}

struct Job {
    features: Vec<f32>,
    rows: usize,
    queued_at: Instant,
    reply: oneshot::Sender<Result<Scored, PoolError>>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
    /// Session threads waiting for work, and wake-ups sent to them not yet taken: a submit
    /// signals only when a thread is waiting and none is already on its way (std's condvar
    /// makes a futex system call on every notify, waiter or not).
    idle: usize,
    waking: usize,
    /// A wake-up is deferred to a task on the async runtime (see [`InferencePool::submit`]).
    flush_pending: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Requests admitted by a handler and not yet queued: the only reason to wait for more.
    arriving: AtomicUsize,
    policy: BatchPolicy,
    n_features: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock means a session thread panicked while holding it; the queue itself
        // (a deque and a flag) is still consistent, so keep serving.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes one idle session thread, if any is idle and none is already on its way.
    fn wake_one(&self, mut queue: MutexGuard<'_, Queue>) {
        let wake = queue.idle > queue.waking;
        if wake {
            queue.waking += 1;
        }
        drop(queue);
        if wake {
            self.wake.notify_one();
        }
    }
}

/// The deferred wake-up: sent when its task runs, or when the task is dropped unrun (a runtime
/// shutting down), so a queued job is never left waiting for the idle recheck.
struct Flush(Arc<Shared>);

impl Drop for Flush {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.flush_pending = false;
        self.0.wake_one(queue);
    }
}

/// The sessions of one model version. Dropping the pool closes its queue: jobs already queued
/// are still answered, then the threads end.
pub struct InferencePool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for InferencePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferencePool")
            .field("n_features", &self.shared.n_features)
            .field("policy", &self.shared.policy)
            .finish_non_exhaustive()
    }
}

/// A request on its way to the queue (see the module documentation). Dropping it, by queueing or
/// by giving up, ends the announcement.
#[derive(Debug)]
pub struct Arrival {
    shared: Arc<Shared>,
    ended: bool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

impl Arrival {
    /// Ends the announcement (once).
    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.shared.arriving.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        self.end();
    }
}

impl InferencePool {
    /// Starts one thread per session. All sessions must take the same number of features.
    pub fn start(
        name: &str,
        sessions: Vec<TreeSession>,
        policy: BatchPolicy,
    ) -> Result<InferencePool, PoolError> {
        let n_features = sessions.first().map_or(0, TreeSession::n_features);
        if sessions.is_empty() || sessions.iter().any(|s| s.n_features() != n_features) {
            return Err(PoolError::Runtime(RuntimeError::Model(
                "a pool needs at least one session, all of one input width".into(),
            )));
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            arriving: AtomicUsize::new(0),
            policy: BatchPolicy {
                max_batch_rows: policy.max_batch_rows.max(1),
                max_wait: policy.max_wait,
            },
            n_features,
        });
        for (index, session) in sessions.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("infer-{name}-{index}"))
                .spawn(move || serve(&shared, session))
                .map_err(|e| {
                    PoolError::Runtime(RuntimeError::Inference(format!(
                        "cannot start an inference thread: {e}"
                    )))
                })?;
        }
        Ok(InferencePool { shared })
    }

    pub fn n_features(&self) -> usize {
        self.shared.n_features
    }

    /// Announces a request that will be queued shortly (call before parsing its body).
    pub fn arriving(&self) -> Arrival {
        self.shared.arriving.fetch_add(1, Ordering::AcqRel);
        Arrival {
            shared: Arc::clone(&self.shared),
            ended: false,
        }
    }

    /// Scores `features` (row-major, a whole number of rows).
    pub async fn predict(&self, features: Vec<f32>) -> Result<Scored, PoolError> {
        let receiver = self.submit(features, None)?;
        receiver.await.map_err(|_| PoolError::Closed)?
    }

    /// As [`InferencePool::predict`], from a thread that may block (loading, tests).
    pub fn predict_blocking(&self, features: Vec<f32>) -> Result<Scored, PoolError> {
        let receiver = self.submit(features, None)?;
        receiver.blocking_recv().map_err(|_| PoolError::Closed)?
    }

    /// Queues `features` and returns where the answer will arrive. The request's [`Arrival`],
    /// if it announced one, ends in the same step as the job is queued, so no session waits for
    /// a request that is already in its queue.
    ///
    /// From an async task, an idle session is not woken at once but by a task spawned behind
    /// the ones already runnable: the requests that arrived together are parsed and queued
    /// first, and the session wakes to all of them. Woken at once, a session thread sharing a
    /// core with the async worker preempts it and runs every request alone (on one core that
    /// halved throughput); the deferral costs one task per batch, not per request.
    pub fn submit(
        &self,
        features: Vec<f32>,
        arrival: Option<Arrival>,
    ) -> Result<oneshot::Receiver<Result<Scored, PoolError>>, PoolError> {
        let n = self.shared.n_features;
        let rows = features.len() / n.max(1);
        if rows == 0 || rows * n != features.len() {
            return Err(PoolError::Runtime(RuntimeError::Shape {
                expected: n,
                got: features.len(),
                rows,
            }));
        }
        let (reply, receiver) = oneshot::channel();
        let mut queue = self.shared.lock();
        if queue.closed {
            return Err(PoolError::Closed);
        }
        if let Some(mut arrival) = arrival {
            arrival.end();
        }
        queue.jobs.push_back(Job {
            features,
            rows,
            queued_at: Instant::now(),
            reply,
        });
        if queue.flush_pending || queue.idle <= queue.waking {
            // A wake-up is already coming, or every session is busy and will look again.
            return Ok(receiver);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                queue.flush_pending = true;
                drop(queue);
                let flush = Flush(Arc::clone(&self.shared));
                runtime.spawn(async move { drop(flush) });
            }
            Err(_) => self.shared.wake_one(queue),
        }
        Ok(receiver)
    }
}

impl Drop for InferencePool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

/// How often an idle session thread looks at its queue even without a wake-up.
const IDLE_RECHECK: Duration = Duration::from_millis(100);

/// Takes jobs from the front of the queue while they fit in the batch.
fn take_fitting(queue: &mut Queue, batch: &mut Vec<Job>, rows: &mut usize, max_rows: usize) {
    while let Some(front) = queue.jobs.front() {
        if *rows + front.rows > max_rows {
            break;
        }
        if let Some(job) = queue.jobs.pop_front() {
            *rows += job.rows;
            batch.push(job);
        }
    }
}

/// One session's thread: form a batch, run it, answer, until the pool is dropped and drained.
fn serve(shared: &Shared, mut session: TreeSession) {
    let policy = shared.policy;
    // Requests in the previous call: more than one means clients are sending concurrently.
    let mut previous_jobs = 0;
    loop {
        let mut batch = Vec::new();
        let mut rows: usize;
        {
            let mut queue = shared.lock();
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    rows = job.rows;
                    batch.push(job);
                    break;
                }
                if queue.closed {
                    return;
                }
                queue.idle += 1;
                // Bounded, so that a wake-up lost to a race can only ever delay, never strand.
                queue = shared
                    .wake
                    .wait_timeout(queue, IDLE_RECHECK)
                    .map(|(queue, _)| queue)
                    .unwrap_or_else(|e| e.into_inner().0);
                queue.idle -= 1;
                queue.waking = queue.waking.saturating_sub(1);
            }
            take_fitting(&mut queue, &mut batch, &mut rows, policy.max_batch_rows);
            // Wait for requests already on their way, never longer than the policy allows.
            let deadline = Instant::now() + policy.max_wait;
            while rows < policy.max_batch_rows
                && shared.arriving.load(Ordering::Acquire) > 0
                && !queue.closed
            {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                queue.idle += 1;
                queue = shared
                    .wake
                    .wait_timeout(queue, deadline - now)
                    .map(|(queue, _)| queue)
                    .unwrap_or_else(|e| e.into_inner().0);
                queue.idle -= 1;
                queue.waking = queue.waking.saturating_sub(1);
                take_fitting(&mut queue, &mut batch, &mut rows, policy.max_batch_rows);
            }
            // Under concurrency more requests are on their way than have been announced: on a
            // core shared with the async workers they are not even read while this thread
            // runs. Step aside in short naps while each nap brings more, within `max_wait`.
            if previous_jobs > 1 {
                let quantum = policy.max_wait / 4;
                while rows < policy.max_batch_rows && !queue.closed {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    drop(queue);
                    std::thread::sleep(quantum.min(deadline - now));
                    queue = shared.lock();
                    let before = rows;
                    take_fitting(&mut queue, &mut batch, &mut rows, policy.max_batch_rows);
                    if rows == before {
                        break;
                    }
                }
            }
        }
        previous_jobs = batch.len();
        run(&mut session, batch, rows);
    }
}

fn run(session: &mut TreeSession, batch: Vec<Job>, rows: usize) {
    let started = Instant::now();
    let outcome = if let [job] = batch.as_slice() {
        session.predict(&job.features)
    } else {
        let mut features = Vec::with_capacity(rows * session.n_features());
        for job in &batch {
            features.extend_from_slice(&job.features);
        }
        session.predict(&features)
    };
    let inference = started.elapsed();
    match outcome {
        Ok(values) if values.len() == rows => {
            let mut offset = 0;
            for job in batch {
                let values = values[offset..offset + job.rows].to_vec();
                offset += job.rows;
                // The requester may have gone (timeout, disconnect): nothing to answer then.
                let _ = job.reply.send(Ok(Scored {
                    values,
                    queued: started.saturating_duration_since(job.queued_at),
                    inference,
                    batch_rows: rows,
                }));
            }
        }
        Ok(values) => {
            for job in batch {
                let _ = job.reply.send(Err(PoolError::Outputs {
                    rows,
                    got: values.len(),
                }));
            }
        }
        Err(error) => {
            let message = error.to_string();
            for job in batch {
                let _ = job
                    .reply
                    .send(Err(PoolError::Runtime(RuntimeError::Inference(
                        message.clone(),
                    ))));
            }
        }
    }
}
