//! Several lanes of one virtual user (`defaults.streams_per_user`, h2load's `-m`): each lane
//! runs the user's flow as a user would (its own variables, cookie jar and random stream), and
//! all of them share the user's one HTTP/2 connection, so that it carries up to that many
//! requests at once.
//!
//! The lanes run in the user's own task ([`all`]), as the rest of the engine does: no
//! connection task, no channel. Any lane with an exchange under way polls the shared connection
//! (`http2.rs`, `drive`), so a response is read whichever lane's poll reads it. The [`Pool`]
//! is the user's connection: the first lane to need one opens it and waits for the server's
//! SETTINGS (its `max_concurrent_streams`) before the others join; a connection given up
//! (ended, stale, failed, timed out) is opened anew by the next lane to need one. When the
//! server speaks HTTP/1.1 (`http2: auto` without h2 on offer), a stream per lane is not to be
//! had: each lane opens its own HTTP/1.1 connection, as that many users would, and the run
//! says so once ([`Connector::explain_lanes_on_h1`]).

use std::{
    cell::RefCell,
    future::{poll_fn, Future},
    pin::Pin,
    task::Poll,
};

use tokio::sync::Notify;

use super::{
    http::{Conn, Connector, Opener},
    recorder::Reason,
};

/// The connection a user's lanes share.
pub(crate) struct Pool {
    state: RefCell<State>,
    /// Wakes the lanes waiting while one opens the connection.
    changed: Notify,
    /// How many lanes share it (for the one warning when they cannot).
    lanes: u32,
    /// The connections the lanes have shared, polled by [`all`] once per wake-up (the one
    /// in the pool, and older ones that lanes still finish exchanges on): at most one per lane.
    connections: RefCell<Vec<super::http2::Shared>>,
}

enum State {
    /// No connection yet, or the last one was given up.
    Empty,
    /// A lane is opening one: the others wait for it.
    Opening,
    /// The shared HTTP/2 connection (a handle kept to make more from).
    H2(Box<super::http2::H2Conn>),
    /// The server speaks HTTP/1.1: every lane opens its own.
    H1,
}

/// What a lane does about the pool's state, decided without holding its borrow.
enum Step {
    Take(Conn),
    Wait,
    OpenShared,
    OpenOwn,
}

impl Pool {
    pub(crate) fn new(lanes: u32) -> Pool {
        Pool {
            state: RefCell::new(State::Empty),
            changed: Notify::new(),
            lanes,
            connections: RefCell::new(Vec::new()),
        }
    }

    fn step(&self) -> Step {
        match &*self.state.borrow() {
            State::H2(c) if !c.has_ended() => Step::Take(Conn::H2(Box::new(c.lane()))),
            State::Opening => Step::Wait,
            State::H1 => Step::OpenOwn,
            State::H2(_) | State::Empty => Step::OpenShared,
        }
    }

    fn set(&self, state: State) {
        *self.state.borrow_mut() = state;
        self.changed.notify_waiters();
    }

    /// Opens the shared connection; the lanes waiting meanwhile get a handle on it.
    async fn open_shared(&self, connector: &Connector) -> Result<Conn, Reason> {
        self.set(State::Opening);
        let opening = Opening(self);
        let conn = match connector.connect().await {
            Ok(Conn::H2(mut c)) => c.settings_in().await.map(|()| Conn::H2(c)),
            other => other,
        };
        std::mem::forget(opening);
        self.set(match &conn {
            Ok(Conn::H2(c)) => {
                self.connections.borrow_mut().push(c.shared());
                State::H2(Box::new(c.lane()))
            }
            Ok(Conn::H1(_)) => {
                connector.explain_lanes_on_h1(self.lanes);
                State::H1
            }
            Err(_) => State::Empty,
        });
        conn
    }
}

/// A lane opening the shared connection: if its request is given up meanwhile (its timeout,
/// the end of the run), the pool is left empty for the next lane, never opening forever.
struct Opening<'a>(&'a Pool);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.0.set(State::Empty);
    }
}

impl Opener for Pool {
    async fn open(&self, connector: &Connector) -> Result<Conn, Reason> {
        loop {
            let changed = self.changed.notified();
            match self.step() {
                Step::Take(c) => return Ok(c),
                Step::Wait => changed.await,
                Step::OpenShared => return self.open_shared(connector).await,
                Step::OpenOwn => return connector.connect().await,
            }
        }
    }

    fn forget(&self, conn: &Conn) {
        let Conn::H2(gone) = conn else {
            return;
        };
        let same = matches!(&*self.state.borrow(), State::H2(c) if c.same_connection(gone));
        if same {
            self.set(State::Empty);
        }
    }
}

/// Runs every lane to its end in the calling task, polling each one whenever the task is
/// woken: a lane's response may have been read by another lane's poll of the shared
/// connection, which wakes the task, not that lane ([`all`] keeps no waker per lane). After
/// the lanes, `pool`'s connections are polled once: what every lane queued goes out in one
/// write, and a response read there wakes the task for its lane.
pub(crate) async fn all<F: Future<Output = ()>>(pool: &Pool, lanes: Vec<F>) {
    let mut lanes: Vec<Option<Pin<Box<F>>>> =
        lanes.into_iter().map(|f| Some(Box::pin(f))).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for slot in &mut lanes {
            if let Some(lane) = slot {
                if lane.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        pool.connections.borrow_mut().retain(|c| c.poll(cx));
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
}
