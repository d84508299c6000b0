//! Generated short codes: drawn from a CSPRNG, never all digits, drawn again
//! when taken (each collision counted in a metric).

use rand::Rng;
use sqlx::PgConnection;

use crate::db::urls::{self, NewUrl, UrlRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How many codes to try before giving up. With 62^7 codes a second collision
/// in a row is already astronomically unlikely; running out means the code
/// space is nearly full and the length should grow.
const MAX_ATTEMPTS: usize = 8;

/// A random code of `len` characters of `[0-9A-Za-z]` that is not all digits
/// (all-digit paths under `/urls/` are ids).
pub fn generate(len: usize) -> String {
    let mut rng = rand::rng();
    let alphabet = shared::short_code::GENERATED_ALPHABET;
    loop {
        let code: String = (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
            .collect();
        if !shared::short_code::is_all_digits(&code) && !shared::short_code::is_reserved(&code) {
            return code;
        }
    }
}

/// Inserts the link under a fresh generated code.
pub async fn insert_with_generated_code(
    db: &mut PgConnection,
    state: &AppState,
    new: &NewUrl<'_>,
) -> ApiResult<UrlRow> {
    for _ in 0..MAX_ATTEMPTS {
        let code = generate(state.settings.short_code_length);
        if let Some(row) = urls::insert(&mut *db, new, &code).await? {
            return Ok(row);
        }
        state.metrics.code_collisions.inc();
    }
    Err(ApiError::internal(
        &"no free short code after repeated attempts; raise SHORT_CODE_LENGTH",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_have_the_length_and_alphabet_and_are_not_all_digits() {
        for len in [6, 7, 16] {
            for _ in 0..2000 {
                let code = generate(len);
                assert_eq!(code.len(), len, "{code}");
                assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()), "{code}");
                assert!(!shared::short_code::is_all_digits(&code), "{code}");
            }
        }
    }
}
