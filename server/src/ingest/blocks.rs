//! Original records in blocks (`raw_blocks`; the format is `app::db::events::raw`'s):
//! the decoders gather a file's records into blocks and compress them
//! ([`BlockBuilder`]), the writer stores each block once and points its events at it,
//! the server's own readers load blocks on their connection ([`read`]), and the
//! `raw-blocks` fix moves the records of older stores into blocks ([`convert`]).

use app::db::events::{At, Unpacker, seal_block};
use rusqlite::{Connection, OptionalExtension, params};

/// A block is sealed once its records pass this many bytes: a delivery file (150
/// records, 200 KB on average) is one block; reading one record decompresses at most
/// about this much (0.2 ms).
pub const BLOCK_BYTES: usize = 512 * 1024;

/// The zstd level blocks are compressed at: level 1 with the trained dictionary gives
/// 11x on CloudTrail records at over 900 MB/s; level 3 gains under 1 % at half the speed.
pub const BLOCK_LEVEL: i32 = 1;

/// Gathers records and compresses them together.
pub struct BlockBuilder {
    compressor: zstd::bulk::Compressor<'static>,
    body: Vec<u8>,
    lens: Vec<u32>,
}

impl BlockBuilder {
    pub fn new(dictionary: Option<&[u8]>) -> std::io::Result<Self> {
        Ok(BlockBuilder {
            compressor: match dictionary {
                Some(d) => zstd::bulk::Compressor::with_dictionary(BLOCK_LEVEL, d)?,
                None => zstd::bulk::Compressor::new(BLOCK_LEVEL)?,
            },
            body: Vec::with_capacity(BLOCK_BYTES + 64 * 1024),
            lens: Vec::new(),
        })
    }

    /// Adds a record; returns its slot in the block.
    pub fn push(&mut self, record: &[u8]) -> std::io::Result<u32> {
        let len = u32::try_from(record.len())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "a record over 4 GiB"))?;
        self.body.extend_from_slice(record);
        self.lens.push(len);
        Ok((self.lens.len() - 1) as u32)
    }

    /// Adds an empty slot (a record not kept).
    fn skip(&mut self) {
        self.lens.push(0);
    }

    pub fn is_full(&self) -> bool {
        self.body.len() >= BLOCK_BYTES
    }

    /// Bytes of the records gathered.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    pub fn records(&self) -> usize {
        self.lens.len()
    }

    /// The block of the records gathered, compressed (`None` when there are none); the
    /// builder starts a new block.
    pub fn seal(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.lens.is_empty() {
            return Ok(None);
        }
        seal_block(&mut self.body, &self.lens);
        let out = self.compressor.compress(&self.body);
        self.body.clear();
        self.lens.clear();
        out.map(Some)
    }
}

/// A stored block with only the slots in `keep` left in it (the others emptied), for a
/// block some of whose records were already stored; `None` when it cannot be read.
pub fn keep_only(
    dictionary: Option<&[u8]>,
    compressed: &[u8],
    keep: &[bool],
) -> std::io::Result<Vec<u8>> {
    let mut unpack = Unpacker::default();
    let dict_id = i64::from(dictionary.is_some());
    unpack.learn(dict_id, dictionary.map(<[u8]>::to_vec));
    unpack.learn_block(0, dict_id, compressed)?;
    let mut out = BlockBuilder::new(dictionary)?;
    for (slot, &kept) in keep.iter().enumerate() {
        if kept {
            let at = At { dict: dict_id, raw: &[], block: Some(0), slot: Some(slot as i64) };
            out.push(&unpack.take(at)?)?;
        } else {
            out.skip();
        }
    }
    Ok(out.seal()?.unwrap_or_default())
}

/// What became of a block some of whose records were removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emptied {
    /// No record is left in it: the block is gone (its compressed bytes).
    Removed(u64),
    /// Records are left: rewritten without the others (bytes before, after).
    Shrunk(u64, u64),
    /// There is no such block.
    Missing,
}

/// Empties the slots `gone` of block `block` (records whose events were removed),
/// keeping every other slot where it was, and deletes the block once no record is
/// left in it. The outer error is the database's, the inner one says why the block
/// cannot be read (then it is left as it was).
pub fn empty_slots(
    conn: &Connection,
    block: i64,
    gone: &[i64],
) -> rusqlite::Result<std::io::Result<Emptied>> {
    let Some((dict_id, data)): Option<(i64, Vec<u8>)> = conn
        .query_row("SELECT dict, data FROM raw_blocks WHERE id = ?1", [block], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?
    else {
        return Ok(Ok(Emptied::Missing));
    };
    let dictionary: Option<Vec<u8>> = if dict_id == 0 {
        None
    } else {
        conn.query_row("SELECT data FROM raw_dictionaries WHERE id = ?1", [dict_id], |r| r.get(0))
            .optional()?
    };
    let rebuilt = (|| -> std::io::Result<Option<Vec<u8>>> {
        let plain = app::db::events::decompress(dictionary.as_deref(), &data)?;
        let ranges = app::db::events::block_ranges(&plain).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, format!("block {block}: its footer does not describe it"))
        })?;
        let mut out = BlockBuilder::new(dictionary.as_deref())?;
        let mut left = 0usize;
        for (slot, &(start, len)) in ranges.iter().enumerate() {
            if len > 0 && !gone.contains(&(slot as i64)) {
                out.push(&plain[start..start + len])?;
                left += 1;
            } else {
                out.skip();
            }
        }
        if left == 0 { Ok(None) } else { out.seal() }
    })();
    let before = data.len() as u64;
    Ok(match rebuilt {
        Err(e) => Err(e),
        Ok(None) => {
            conn.prepare_cached("DELETE FROM raw_blocks WHERE id = ?1")?.execute([block])?;
            Ok(Emptied::Removed(before))
        }
        Ok(Some(sealed)) => {
            conn.prepare_cached("UPDATE raw_blocks SET data = ?2 WHERE id = ?1")?
                .execute(params![block, sealed])?;
            Ok(Emptied::Shrunk(before, sealed.len() as u64))
        }
    })
}

/// The record at `at`, loading its dictionary and block on `conn`. The outer error is
/// the database's; the inner one says why the record cannot be read.
pub fn read(
    conn: &Connection,
    unpack: &mut Unpacker,
    at: At<'_>,
) -> rusqlite::Result<std::io::Result<Vec<u8>>> {
    unpack.read(
        at,
        |dict| {
            conn.query_row("SELECT data FROM raw_dictionaries WHERE id = ?1", [dict], |r| r.get(0))
                .optional()
        },
        |block| {
            conn.query_row("SELECT dict, data FROM raw_blocks WHERE id = ?1", [block], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        },
    )
}

/// Records moved per transaction by [`convert`].
const CONVERT_CHUNK: usize = 8192;
/// [`convert`] seals its blocks at about a delivery file's size (records read one by
/// one, such as a search result's, then decompress little).
const CONVERT_BLOCK_BYTES: usize = 192 * 1024;

/// What [`convert`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Converted {
    pub records: u64,
    pub blocks: u64,
    /// Records that could not be read, left in their rows as they were.
    pub unreadable: u64,
    /// Compressed bytes before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Moves the records stored one by one in older stores' rows into blocks, in time
/// order, [`CONVERT_CHUNK`] to a transaction: an interrupted run goes on where it
/// stopped. A record that cannot be read stays in its row (logged); nothing is lost.
pub fn convert(conn: &Connection) -> rusqlite::Result<Converted> {
    let dict: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT id, data FROM raw_dictionaries ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (dict_id, dict_bytes) = match &dict {
        Some((id, bytes)) => (*id, Some(bytes.as_slice())),
        None => (0, None),
    };
    let mut done = Converted::default();
    let mut unpack = Unpacker::default();
    let mut last = i64::MIN;
    let started = std::time::Instant::now();
    loop {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        match convert_chunk(conn, &mut unpack, dict_id, dict_bytes, &mut last, &mut done) {
            Ok(0) => {
                conn.execute_batch("COMMIT")?;
                break;
            }
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        if done.records % 200_000 < CONVERT_CHUNK as u64 {
            tracing::info!(records = done.records, seconds = started.elapsed().as_secs(), "moving stored records into blocks");
        }
    }
    Ok(done)
}

/// Moves the next chunk after `last`; returns how many rows it looked at.
fn convert_chunk(
    conn: &Connection,
    unpack: &mut Unpacker,
    dict_id: i64,
    dict_bytes: Option<&[u8]>,
    last: &mut i64,
    done: &mut Converted,
) -> rusqlite::Result<usize> {
    let mut st = conn.prepare_cached(
        "SELECT id, raw_dict, raw FROM events WHERE id > ?1 AND raw_block IS NULL ORDER BY id LIMIT ?2",
    )?;
    let rows: Vec<(i64, i64, Vec<u8>)> = st
        .query_map(params![*last, CONVERT_CHUNK as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let Some(&(end, _, _)) = rows.last() else {
        return Ok(0);
    };
    let mut builder = BlockBuilder::new(dict_bytes).map_err(io_error)?;
    let mut members: Vec<i64> = Vec::new();
    let mut insert = conn.prepare_cached("INSERT INTO raw_blocks (dict, records, data) VALUES (?1, ?2, ?3)")?;
    let mut point = conn
        .prepare_cached("UPDATE events SET raw = x'', raw_block = ?2, raw_slot = ?3 WHERE id = ?1")?;
    let mut flush = |builder: &mut BlockBuilder, members: &mut Vec<i64>, done: &mut Converted| -> rusqlite::Result<()> {
        let n = builder.records();
        let Some(data) = builder.seal().map_err(io_error)? else {
            return Ok(());
        };
        insert.execute(params![dict_id, n as i64, data])?;
        let block = conn.last_insert_rowid();
        done.blocks += 1;
        done.bytes_after += data.len() as u64;
        for (slot, id) in members.drain(..).enumerate() {
            point.execute(params![id, block, slot as i64])?;
        }
        Ok(())
    };
    let n = rows.len();
    for (id, old_dict, raw) in rows {
        let bytes = match read(conn, unpack, At { dict: old_dict, raw: &raw, block: None, slot: None })? {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(event = id, error = %e, "a stored record cannot be read; left in its row");
                done.unreadable += 1;
                continue;
            }
        };
        builder.push(&bytes).map_err(io_error)?;
        members.push(id);
        done.records += 1;
        done.bytes_before += raw.len() as u64;
        if builder.bytes() >= CONVERT_BLOCK_BYTES {
            flush(&mut builder, &mut members, done)?;
        }
    }
    flush(&mut builder, &mut members, done)?;
    *last = end;
    Ok(n)
}

fn io_error(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::db::events::block_ranges;

    #[test]
    fn a_block_keeps_only_the_records_asked_for() {
        let mut b = BlockBuilder::new(None).unwrap();
        for r in [&b"{\"a\":1}"[..], b"{\"b\":2}", b"{\"c\":3}"] {
            b.push(r).unwrap();
        }
        let block = b.seal().unwrap().unwrap();
        assert!(b.seal().unwrap().is_none(), "a sealed builder starts empty");
        let kept = keep_only(None, &block, &[true, false, true]).unwrap();
        let mut u = Unpacker::default();
        u.learn_block(1, 0, &kept).unwrap();
        let at = |slot| At { dict: 0, raw: &[], block: Some(1), slot: Some(slot) };
        assert_eq!(u.take(at(0)).unwrap(), b"{\"a\":1}");
        assert!(u.take(at(1)).is_err());
        assert_eq!(u.take(at(2)).unwrap(), b"{\"c\":3}");
        assert!(block_ranges(&zstd::bulk::decompress(&kept, 1 << 20).unwrap()).is_some());
    }
}
