//! The zstd dictionary that compresses original records: trained once per database from
//! a sample of the first import, stored in `raw_dictionaries`, used ever after.

use super::decode;
use super::pipeline::{ImportError, Source};
use super::source::FileJob;
use sqlx::SqlitePool;
use std::sync::Arc;

/// Records sampled to train a dictionary, and the fewest worth training on.
const SAMPLE_RECORDS: usize = 4000;
const MIN_SAMPLES: usize = 300;
const DICT_BYTES: usize = 64 * 1024;

/// Returns the dictionary to compress with (`0, None` for none yet).
pub async fn ensure(
    pool: &SqlitePool,
    source: Arc<dyn Source>,
    jobs: &[FileJob],
) -> Result<(i64, Option<Vec<u8>>), ImportError> {
    if let Some((id, data)) = sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT id, data FROM raw_dictionaries ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?
    {
        return Ok((id, Some(data)));
    }
    // Sample files spread over the whole input.
    let step = (jobs.len() / 64).max(1);
    let picks: Vec<FileJob> = jobs.iter().step_by(step).take(64).cloned().collect();
    let trained = tokio::task::spawn_blocking(move || {
        let mut samples: Vec<Vec<u8>> = Vec::new();
        for job in &picks {
            if let Ok(reader) = source.open(job) {
                let _ = decode::decode(reader, None, &Default::default(), |_, record| {
                    if let Some(r) = record
                        && samples.len() < SAMPLE_RECORDS
                    {
                        samples.push(r.to_vec());
                    }
                    // Enough: the rest of a large file is not read twice.
                    if samples.len() >= SAMPLE_RECORDS {
                        return Err(decode::Stop);
                    }
                    Ok(())
                });
            }
            if samples.len() >= SAMPLE_RECORDS {
                break;
            }
        }
        (samples.len() >= MIN_SAMPLES)
            .then(|| zstd::dict::from_samples(&samples, DICT_BYTES).ok())
            .flatten()
    })
    .await
    .map_err(|e| ImportError::Thread(e.to_string()))?;
    let Some(data) = trained else {
        return Ok((0, None));
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO raw_dictionaries (created_at, data) VALUES (?1, ?2) RETURNING id",
    )
    .bind(chrono::Utc::now().timestamp_millis())
    .bind(&data)
    .fetch_one(pool)
    .await?;
    tracing::info!(
        id,
        bytes = data.len(),
        "trained a compression dictionary for raw records"
    );
    Ok((id, Some(data)))
}
