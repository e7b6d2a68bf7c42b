//! The connections a [`Server`](super::Server) runs, each on a task of its
//! own: a table of their abort handles (16 bytes a connection, against a
//! `JoinSet` entry's 56 and its allocation), so that a shutdown can wait
//! for every one of them and abort those still running after the grace
//! period.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use crate::slots::Slots;

/// The tasks of a server's connections.
#[derive(Debug, Default)]
pub(super) struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    table: Mutex<Table>,
    /// Notified when the last task ends.
    none_left: Notify,
}

#[derive(Debug, Default)]
struct Table {
    slots: Slots<Entry>,
    running: usize,
}

#[derive(Debug)]
enum Entry {
    Free,
    /// Spawned, its abort handle not filled in yet.
    Starting,
    Running(AbortHandle),
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Frees its task's entry when dropped: the task's future holds it to its
/// end, aborted or not.
#[derive(Debug)]
pub(super) struct Finished {
    tasks: Arc<Inner>,
    slot: u32,
}

impl Drop for Finished {
    fn drop(&mut self) {
        let mut table = self.tasks.lock();
        if let Some(entry) = table.slots.get_mut(self.slot) {
            *entry = Entry::Free;
            table.slots.remove(self.slot);
            table.running -= 1;
        }
        if table.running == 0 {
            self.tasks.none_left.notify_waiters();
        }
    }
}

impl Tasks {
    /// Runs the future `start` makes on a task of its own; the future must
    /// hold the [`Finished`] it is given until it ends. (The future is not
    /// wrapped in one that holds it: an async block around it would keep
    /// it twice, once as captured and once as awaited, in every task.)
    pub(super) fn spawn<F>(&self, start: impl FnOnce(Finished) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let slot = {
            let mut table = self.inner.lock();
            table.running += 1;
            table.slots.insert(Entry::Starting)
        };
        let task = tokio::spawn(start(Finished { tasks: self.inner.clone(), slot }));
        // A task that already ended has freed its entry; only this loop
        // takes entries, so it cannot have been taken again meanwhile.
        let mut table = self.inner.lock();
        if let Some(entry @ Entry::Starting) = table.slots.get_mut(slot) {
            *entry = Entry::Running(task.abort_handle());
        }
    }

    /// Waits until every task has ended.
    pub(super) async fn wait(&self) {
        loop {
            let none_left = self.inner.none_left.notified();
            tokio::pin!(none_left);
            none_left.as_mut().enable();
            if self.inner.lock().running == 0 {
                return;
            }
            none_left.await;
        }
    }

    /// Aborts every task still running (see [`wait`](Self::wait) for their end).
    pub(super) fn abort_all(&self) {
        let table = self.inner.lock();
        for entry in table.slots.iter() {
            if let Entry::Running(task) = entry {
                task.abort();
            }
        }
    }
}

/// A server dropped (its `serve` future cancelled) takes its connections
/// with it, as a `JoinSet` does.
impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Poll;

    #[tokio::test]
    async fn waits_for_every_task_and_aborts_the_rest() {
        let tasks = Tasks::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (held_tx, mut held_rx) = tokio::sync::mpsc::channel::<()>(1);
        tasks.spawn(|f| async move {
            drop(rx.await);
            drop(f);
        });
        tasks.spawn(|f| async move {
            let _held = (f, held_tx);
            std::future::pending::<()>().await;
        });
        tasks.spawn(|f| async move { drop(f) });
        while tasks.inner.lock().running > 2 {
            tokio::task::yield_now().await;
        }
        tx.send(()).unwrap();
        while tasks.inner.lock().running > 1 {
            tokio::task::yield_now().await;
        }
        let mut waiting = std::pin::pin!(tasks.wait());
        let first = std::future::poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "one task never ends by itself");
        tasks.abort_all();
        waiting.await;
        assert_eq!(held_rx.recv().await, None, "what the aborted task held is dropped");
        let table = tasks.inner.lock();
        assert!(table.slots.iter().all(|e| matches!(e, Entry::Free)));
        assert_eq!(table.slots.live(), 0, "every entry is free for the next connection");
    }

    #[tokio::test]
    async fn dropping_the_table_aborts_its_tasks() {
        let tasks = Tasks::default();
        let (held_tx, mut held_rx) = tokio::sync::mpsc::channel::<()>(1);
        tasks.spawn(|f| async move {
            let _held = (f, held_tx);
            std::future::pending::<()>().await;
        });
        drop(tasks);
        assert_eq!(held_rx.recv().await, None, "the task was aborted and dropped what it held");
    }
}
