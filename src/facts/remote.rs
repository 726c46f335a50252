//! Issue 16's facts: what the SSH session (`--ssh`) tells the checks that run from here about
//! the server, e.g. its mynetworks for the relay probe from this machine.

use std::sync::OnceLock;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};

use super::Facts;

/// The server's answers, as futures the SSH orchestration (run/ssh.rs) resolves.
#[derive(Default)]
pub(crate) struct Cells {
    server_mynetworks: OnceLock<Shared<BoxFuture<'static, Option<String>>>>,
}

impl Facts {
    /// With `--ssh`: the server's mynetworks will come from `answer` (`None`: it could not be
    /// learned). Set once, before the checks run.
    pub fn expect_server_mynetworks(&self, answer: BoxFuture<'static, Option<String>>) {
        let _ = self.remote.server_mynetworks.set(answer.shared());
    }

    /// The server's mynetworks, learned over SSH; `None` without `--ssh` or when it could not
    /// be learned. Waits for the answer (it is bounded by the SSH deadlines).
    pub async fn server_mynetworks(&self) -> Option<String> {
        let answer = self.remote.server_mynetworks.get()?.clone();
        answer.await
    }
}
