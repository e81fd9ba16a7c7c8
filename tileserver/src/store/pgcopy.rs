//! PostgreSQL's binary `COPY` format, written row by row into one reusable buffer: what the
//! PostGIS store streams into a table with `COPY … FROM STDIN (FORMAT binary)`.
//!
//! The format (PostgreSQL documentation, "COPY", "Binary Format"): a signature and two 32-bit
//! words, then per row a 16-bit field count and per field a 32-bit length (−1 for NULL) and the
//! value in the type's binary send format, then a 16-bit −1. All integers big-endian.

/// The header: signature, flags (no OIDs), header extension length.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 00:00 UTC).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// The binary `COPY` data of some rows.
#[derive(Debug)]
pub struct CopyRows {
    buf: Vec<u8>,
}

impl Default for CopyRows {
    fn default() -> Self {
        Self::new()
    }
}

impl CopyRows {
    /// A buffer holding the header: the rows follow.
    pub fn new() -> Self {
        Self { buf: HEADER.to_vec() }
    }

    /// The bytes written since the last [`CopyRows::clear`].
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the bytes written (they were sent), keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Starts a row of `fields` fields.
    pub fn row(&mut self, fields: i16) {
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }

    /// A `bigint`.
    pub fn int8(&mut self, v: i64) {
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// A `smallint`, or NULL.
    pub fn int2(&mut self, v: Option<i16>) {
        match v {
            Some(v) => {
                self.buf.extend_from_slice(&2i32.to_be_bytes());
                self.buf.extend_from_slice(&v.to_be_bytes());
            }
            None => self.null(),
        }
    }

    /// A `timestamptz` from epoch milliseconds, or NULL. Out of PostgreSQL's range, the server
    /// refuses the row.
    pub fn timestamptz_ms(&mut self, ms: Option<i64>) {
        match ms {
            Some(ms) => {
                let us = ms.saturating_mul(1000).saturating_sub(PG_EPOCH_US);
                self.int8(us);
            }
            None => self.null(),
        }
    }

    /// A NULL.
    pub fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// A value `write` appends in its type's binary format (a `geometry` as EWKB, a `bytea`, a
    /// `text` as UTF-8); the length before it is filled in afterwards.
    ///
    /// # Errors
    /// What `write` returns (the field is then incomplete: drop the rows).
    pub fn field<E>(&mut self, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        write(&mut self.buf)?;
        let len = i32::try_from(self.buf.len() - at - 4).unwrap_or(i32::MAX);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// A `json` (or `text`) value whose text `write` appends.
    pub fn text(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let _ = self.field(|out| {
            write(out);
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// Ends the data: after the last row.
    pub fn finish(&mut self) {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::CopyRows;

    #[test]
    fn rows_are_framed_as_postgresql_reads_them() {
        let mut rows = CopyRows::new();
        rows.row(4);
        rows.int8(-2);
        rows.int2(None);
        rows.timestamptz_ms(Some(946_684_800_001));
        rows.text(|out| out.extend_from_slice(b"[1]"));
        rows.finish();
        let mut want = b"PGCOPY\n\xff\r\n\0".to_vec();
        want.extend_from_slice(&[0; 8]);
        want.extend_from_slice(&[0, 4]);
        want.extend_from_slice(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        want.extend_from_slice(&[0xff; 4]);
        want.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
        want.extend_from_slice(&[0, 0, 0, 3, b'[', b'1', b']']);
        want.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(rows.bytes(), want);
        rows.clear();
        assert!(rows.bytes().is_empty());
    }

    #[test]
    fn a_failed_field_reports_its_error() {
        let mut rows = CopyRows::new();
        assert_eq!(rows.field(|_| Err("no")), Err("no"));
    }
}
