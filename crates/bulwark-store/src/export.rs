//! What every database backend's [`crate::StateStore::export`] and
//! [`crate::StateStore::restore`] share, written once: the emptiness test
//! and the gathering of records into chunks for the sink.

use crate::{EXPORT_CHUNK, Result, StateRecord};

/// [`crate::StateStore::is_empty`] as one query that both databases run
/// (`"timestamp"` quoted: a keyword in PostgreSQL).
pub(crate) const IS_EMPTY: &str = "SELECT NOT EXISTS (SELECT 1 FROM tokens) \
     AND NOT EXISTS (SELECT 1 FROM settings) AND NOT EXISTS (SELECT 1 FROM projects) \
     AND NOT EXISTS (SELECT 1 FROM pages) AND NOT EXISTS (SELECT 1 FROM roles) \
     AND NOT EXISTS (SELECT 1 FROM \"timestamp\") AND NOT EXISTS (SELECT 1 FROM audit_log) \
     AND (SELECT value FROM counters WHERE name = 'publish') = 0";

/// Records on their way to an export's sink, handed over
/// [`EXPORT_CHUNK`] at a time.
pub(crate) struct Chunks<'a> {
    sink: &'a mut dyn FnMut(Vec<StateRecord>) -> Result<()>,
    chunk: Vec<StateRecord>,
}

impl<'a> Chunks<'a> {
    pub(crate) fn new(sink: &'a mut dyn FnMut(Vec<StateRecord>) -> Result<()>) -> Self {
        Self {
            sink,
            chunk: Vec::with_capacity(EXPORT_CHUNK),
        }
    }

    /// Adds `record`, handing the chunk over when it is full.
    pub(crate) fn push(&mut self, record: StateRecord) -> Result<()> {
        self.chunk.push(record);
        if self.chunk.len() < EXPORT_CHUNK {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(EXPORT_CHUNK));
        (self.sink)(full)
    }

    /// Hands over what is left.
    pub(crate) fn finish(self) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        (self.sink)(self.chunk)
    }
}
