//! The original records as stored. The import keeps them in blocks (`raw_blocks`): the
//! records of one delivery file, or of one stretch of a large file, compressed together
//! with the database's trained dictionary. Rows written before blocks existed hold
//! their record compressed on its own in `events.raw` until the `raw-blocks` fix moves
//! them. A reader names an event's record with [`At`] and reads it through an
//! [`Unpacker`] (which keeps the last blocks it decompressed) or, over the pool, a
//! [`RawReader`].
//!
//! A decompressed block is its records back to back, then each record's length and
//! their count, as little-endian `u32`s ([`seal_block`], [`block_ranges`]). A record of
//! length zero is a slot left empty (a duplicate the import did not keep).

use super::detail::DetailError;
use sqlx::SqlitePool;
use std::collections::{HashMap, VecDeque};

/// Records are at most this large (CloudTrail's limit is 256 KB; some services write more).
const MAX_RECORD: u64 = 64 << 20;
/// Decompressed blocks are at most this large (the import seals them near 512 KiB, or
/// at one record when a record alone is larger).
const MAX_BLOCK: u64 = MAX_RECORD + (16 << 20);
/// Bytes of decompressed blocks an [`Unpacker`] keeps for the records that follow: a
/// read in time order goes back and forth between the files delivered over the same
/// minutes (one per account, Region and kind), and each block should be decompressed
/// once while its minutes are read.
const BLOCK_BYTES_KEPT: usize = 32 << 20;

/// Where an event's original record is: in a block (`block`, `slot`), or in its row
/// (`raw`, compressed with dictionary `dict`, 0 for none).
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub dict: i64,
    pub raw: &'a [u8],
    pub block: Option<i64>,
    pub slot: Option<i64>,
}

/// The columns of `events` that say where its record is, read as they are named.
#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub raw_dict: i64,
    pub raw: Vec<u8>,
    pub raw_block: Option<i64>,
    pub raw_slot: Option<i64>,
}

impl Stored {
    pub fn at(&self) -> At<'_> {
        At { dict: self.raw_dict, raw: &self.raw, block: self.raw_block, slot: self.raw_slot }
    }
}

/// Appends the footer of a block whose records, of lengths `lens`, are already in `out`.
pub fn seal_block(out: &mut Vec<u8>, lens: &[u32]) {
    out.reserve(lens.len() * 4 + 4);
    for l in lens {
        out.extend_from_slice(&l.to_le_bytes());
    }
    out.extend_from_slice(&(lens.len() as u32).to_le_bytes());
}

/// Where each record of a decompressed block starts and how long it is; `None` when
/// the footer does not describe the block.
pub fn block_ranges(block: &[u8]) -> Option<Vec<(usize, usize)>> {
    let count_at = block.len().checked_sub(4)?;
    let n = u32::from_le_bytes(block[count_at..].try_into().ok()?) as usize;
    let body = count_at.checked_sub(n.checked_mul(4)?)?;
    let mut out = Vec::with_capacity(n);
    let mut at = 0usize;
    for c in block[body..count_at].chunks_exact(4) {
        let len = u32::from_le_bytes(c.try_into().ok()?) as usize;
        let end = at.checked_add(len).filter(|&e| e <= body)?;
        out.push((at, len));
        at = end;
    }
    (at == body).then_some(out)
}

/// Decompresses one record stored on its own (streaming: for frames that do not state
/// their size).
pub fn decompress(dict: Option<&[u8]>, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    match dict {
        Some(d) => {
            let mut dec =
                zstd::stream::read::Decoder::with_dictionary(std::io::BufReader::new(raw), d)?;
            dec.read_to_end(&mut out)?;
        }
        None => {
            out = zstd::stream::decode_all(raw)?;
        }
    }
    Ok(out)
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// A block decompressed, with where each record lies in it.
struct Block {
    id: i64,
    data: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

/// Decompresses stored records: each dictionary is prepared once into a decompressor of
/// its own (preparing a 64 KiB dictionary costs far more than decompressing a record
/// with it), and the blocks used last stay decompressed (up to [`BLOCK_BYTES_KEPT`]),
/// so events read in time order decompress each block about once.
#[derive(Default)]
pub struct Unpacker {
    dicts: HashMap<i64, Option<(Vec<u8>, zstd::bulk::Decompressor<'static>)>>,
    plain: Option<zstd::bulk::Decompressor<'static>>,
    /// Least recently used first.
    blocks: VecDeque<Block>,
    kept_bytes: usize,
}

impl Unpacker {
    /// Whether dictionary `dict_id` (0: none) was learnt.
    pub fn knows(&self, dict_id: i64) -> bool {
        dict_id == 0 || self.dicts.contains_key(&dict_id)
    }

    /// Learns dictionary `dict_id`'s bytes (`None`: it is missing).
    pub fn learn(&mut self, dict_id: i64, bytes: Option<Vec<u8>>) {
        let prepared = bytes.and_then(|b| {
            let dec = zstd::bulk::Decompressor::with_dictionary(&b).ok()?;
            Some((b, dec))
        });
        self.dicts.insert(dict_id, prepared);
    }

    /// Whether block `id` is at hand, decompressed (it becomes the one used last).
    pub fn has_block(&mut self, id: i64) -> bool {
        match self.blocks.iter().rposition(|b| b.id == id) {
            Some(i) => {
                if i + 1 != self.blocks.len()
                    && let Some(b) = self.blocks.remove(i)
                {
                    self.blocks.push_back(b);
                }
                true
            }
            None => false,
        }
    }

    /// Decompresses block `id`, compressed with dictionary `dict_id` (learnt first), and
    /// keeps it in place of the one used longest ago.
    pub fn learn_block(&mut self, id: i64, dict_id: i64, compressed: &[u8]) -> std::io::Result<()> {
        let data = self.unpack_within(dict_id, compressed, MAX_BLOCK)?;
        let ranges = block_ranges(&data).ok_or_else(|| invalid(format!("block {id} is malformed")))?;
        self.kept_bytes += data.len();
        self.blocks.push_back(Block { id, data, ranges });
        while self.kept_bytes > BLOCK_BYTES_KEPT && self.blocks.len() > 1 {
            if let Some(old) = self.blocks.pop_front() {
                self.kept_bytes -= old.data.len();
            }
        }
        Ok(())
    }

    /// Decompresses a record stored on its own with dictionary `dict_id` (learnt first).
    pub fn unpack(&mut self, dict_id: i64, raw: &[u8]) -> std::io::Result<Vec<u8>> {
        self.unpack_within(dict_id, raw, MAX_RECORD)
    }

    fn unpack_within(&mut self, dict_id: i64, raw: &[u8], limit: u64) -> std::io::Result<Vec<u8>> {
        let size = match zstd::zstd_safe::get_frame_content_size(raw) {
            Ok(Some(n)) if n <= limit => n as usize,
            // No size in the frame: the streaming decoder finds it.
            _ => return decompress(self.dict_bytes(dict_id), raw),
        };
        let prepared = if dict_id == 0 {
            if self.plain.is_none() {
                self.plain = Some(zstd::bulk::Decompressor::new()?);
            }
            self.plain.as_mut()
        } else {
            self.dicts.get_mut(&dict_id).and_then(|d| d.as_mut()).map(|(_, dec)| dec)
        };
        match prepared {
            Some(dec) => dec.decompress(raw, size),
            // The dictionary is missing: decompressing without it says why it fails.
            None => decompress(None, raw),
        }
    }

    fn dict_bytes(&self, dict_id: i64) -> Option<&[u8]> {
        self.dicts.get(&dict_id).and_then(|d| d.as_ref()).map(|(bytes, _)| bytes.as_slice())
    }

    /// The record at `at`: its block (or, for a record on its own, its dictionary) must
    /// have been learnt.
    pub fn take(&mut self, at: At<'_>) -> std::io::Result<Vec<u8>> {
        match (at.block, at.slot) {
            (None, None) => self.unpack(at.dict, at.raw),
            (Some(id), Some(slot)) => {
                let block = self
                    .blocks
                    .iter()
                    .rev()
                    .find(|b| b.id == id)
                    .ok_or_else(|| invalid(format!("block {id} was not read")))?;
                match usize::try_from(slot).ok().and_then(|s| block.ranges.get(s)) {
                    Some(&(start, len)) if len > 0 => Ok(block.data[start..start + len].to_vec()),
                    _ => Err(invalid(format!("block {id} has no record {slot}"))),
                }
            }
            _ => Err(invalid("a block without a slot".into())),
        }
    }

    /// The record at `at`, loading what is missing with `load_dict` (a dictionary's
    /// bytes) and `load_block` (a block's dictionary and compressed bytes): for callers
    /// with a connection of their own. The outer error is the loaders', the inner one
    /// says why the record cannot be read.
    pub fn read<E>(
        &mut self,
        at: At<'_>,
        mut load_dict: impl FnMut(i64) -> Result<Option<Vec<u8>>, E>,
        mut load_block: impl FnMut(i64) -> Result<Option<(i64, Vec<u8>)>, E>,
    ) -> Result<std::io::Result<Vec<u8>>, E> {
        match at.block {
            Some(id) if !self.has_block(id) => {
                let Some((dict, data)) = load_block(id)? else {
                    return Ok(Err(invalid(format!("block {id} is missing"))));
                };
                if !self.knows(dict) {
                    let bytes = load_dict(dict)?;
                    self.learn(dict, bytes);
                }
                if let Err(e) = self.learn_block(id, dict, &data) {
                    return Ok(Err(e));
                }
            }
            Some(_) => {}
            None => {
                if !self.knows(at.dict) {
                    let bytes = load_dict(at.dict)?;
                    self.learn(at.dict, bytes);
                }
            }
        }
        Ok(self.take(at))
    }
}

/// Reads original records over the pool, through an [`Unpacker`].
#[derive(Default)]
pub struct RawReader {
    unpack: Unpacker,
}

impl RawReader {
    async fn ensure_dict(&mut self, pool: &SqlitePool, dict_id: i64) -> Result<(), sqlx::Error> {
        if !self.unpack.knows(dict_id) {
            let d: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT data FROM raw_dictionaries WHERE id = ?1")
                    .bind(dict_id)
                    .fetch_optional(pool)
                    .await?;
            self.unpack.learn(dict_id, d);
        }
        Ok(())
    }

    /// Event `id`'s original record, stored at `at`.
    pub async fn read(&mut self, pool: &SqlitePool, id: i64, at: At<'_>) -> Result<Vec<u8>, DetailError> {
        match at.block {
            Some(block) if !self.unpack.has_block(block) => {
                let row: Option<(i64, Vec<u8>)> =
                    sqlx::query_as("SELECT dict, data FROM raw_blocks WHERE id = ?1")
                        .bind(block)
                        .fetch_optional(pool)
                        .await?;
                let Some((dict, data)) = row else {
                    return Err(DetailError::Raw(id, format!("block {block} is missing")));
                };
                self.ensure_dict(pool, dict).await?;
                self.unpack
                    .learn_block(block, dict, &data)
                    .map_err(|e| DetailError::Raw(id, e.to_string()))?;
            }
            Some(_) => {}
            None => self.ensure_dict(pool, at.dict).await?,
        }
        self.unpack.take(at).map_err(|e| DetailError::Raw(id, e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_reads_back_its_records_and_refuses_a_bad_footer() {
        let records: [&[u8]; 3] = [b"{\"a\":1}", b"", b"{\"b\":[2]}"];
        let mut block = Vec::new();
        for r in records {
            block.extend_from_slice(r);
        }
        seal_block(&mut block, &records.map(|r| r.len() as u32));
        let ranges = block_ranges(&block).unwrap();
        let back: Vec<&[u8]> = ranges.iter().map(|&(s, l)| &block[s..s + l]).collect();
        assert_eq!(back, records);
        let compressed = zstd::bulk::compress(&block, 1).unwrap();
        let mut u = Unpacker::default();
        u.learn_block(7, 0, &compressed).unwrap();
        let at = |slot| At { dict: 0, raw: &[], block: Some(7), slot: Some(slot) };
        assert_eq!(u.take(at(2)).unwrap(), records[2]);
        // An empty slot, a slot past the end and a block not read are errors, not panics.
        assert!(u.take(at(1)).is_err());
        assert!(u.take(at(3)).is_err());
        assert!(u.take(At { block: Some(8), ..at(0) }).is_err());
        // Footers that overrun or undercount the block.
        assert!(block_ranges(&[]).is_none());
        assert!(block_ranges(&[9, 0, 0, 0]).is_none());
        let mut short = block.clone();
        short.remove(0);
        assert!(block_ranges(&short).is_none());
        let mut huge = Vec::new();
        seal_block(&mut huge, &[u32::MAX]);
        assert!(block_ranges(&huge).is_none());
    }
}
