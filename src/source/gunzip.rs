//! The one place input is decompressed, always with a cap.
//!
//! gzip is recognised by its magic bytes, never by a file name. The decompressed stream is
//! capped so a gzip bomb is stopped with a clear error instead of exhausting memory or time.

use flate2::bufread::MultiGzDecoder;
use std::io::{self, BufRead, BufReader, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Wraps `input` in a capped gunzip when it starts with the gzip magic; otherwise returns it.
pub fn maybe_gunzip<'a, R: BufRead + 'a>(
    mut input: R,
    max_decompressed: u64,
) -> io::Result<Box<dyn BufRead + 'a>> {
    let head = input.fill_buf()?;
    if head.len() >= 2 && head[..2] == GZIP_MAGIC {
        Ok(Box::new(BufReader::with_capacity(
            256 * 1024,
            Capped {
                inner: MultiGzDecoder::new(input),
                left: max_decompressed,
                cap: max_decompressed,
            },
        )))
    } else {
        Ok(Box::new(input))
    }
}

/// Decompresses a whole gzip buffer held in memory (e.g. a CloudWatch Logs payload), capped.
pub fn gunzip_all(data: &[u8], max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    Capped {
        inner: MultiGzDecoder::new(data),
        left: max,
        cap: max,
    }
    .read_to_end(&mut out)?;
    Ok(out)
}

/// Fails once more than `cap` bytes have been read.
struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One probe byte tells a stream that ends exactly at the cap from a longer one.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("decompressed size exceeds the limit of {} bytes", self.cap),
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn detects_by_magic_not_name() {
        let mut s = String::new();
        maybe_gunzip(&gz(b"hello")[..], 100)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        let mut s = String::new();
        maybe_gunzip(&b"plain"[..], 100)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "plain");
    }

    #[test]
    fn stops_a_bomb_at_the_cap() {
        let bomb = gz(&vec![b'0'; 10_000_000]);
        assert!(bomb.len() < 20_000);
        let err = gunzip_all(&bomb, 1_000_000).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
        assert_eq!(gunzip_all(&gz(b"12345"), 5).unwrap(), b"12345");
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let data = gz(&vec![b'x'; 100_000]);
        let mut out = Vec::new();
        let r = maybe_gunzip(&data[..data.len() / 2], 1 << 30)
            .unwrap()
            .read_to_end(&mut out);
        assert!(r.is_err());
    }
}
