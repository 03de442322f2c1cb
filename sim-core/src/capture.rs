//! Packet capture: nanosecond-resolution pcap that tcpdump and Wireshark read.
//!
//! The fabric records frames per link when capture is enabled; [`write_pcap`] turns a
//! record list into a file image on any `io::Write`, with simulated timestamps.

use std::io::{self, Write};

use bytes::Bytes;

use crate::time::SimTime;

/// One captured frame.
#[derive(Clone, Debug)]
pub struct Captured {
    /// When it started onto the wire.
    pub time: SimTime,
    /// The wire bytes.
    pub data: Bytes,
}

/// Where captured frames go as they cross links: the fabric hands each one over at
/// once, so a capture costs no memory in the fabric however many frames it sees (a
/// writer of pcap files is one; [`Fabric::enable_capture`](crate::Fabric::enable_capture)
/// keeps them in memory instead, for tests).
pub trait CaptureSink {
    /// A frame started onto link `link` at `time`.
    fn frame(&mut self, link: crate::LinkId, time: SimTime, data: &[u8]);
    /// The capture is over: flush what is buffered.
    ///
    /// # Errors
    /// The first error the sink met, if any.
    fn finish(&mut self) -> io::Result<()>;
}

/// Writes `frames` as a pcap file (nanosecond magic, Ethernet link type).
///
/// # Errors
/// Any error of the writer.
pub fn write_pcap<W: Write>(mut w: W, frames: &[Captured]) -> io::Result<()> {
    write_pcap_header(&mut w)?;
    for f in frames {
        write_pcap_record(&mut w, f.time, &f.data)?;
    }
    w.flush()
}

/// The pcap global header: nanosecond timestamps, version 2.4, snaplen 262144,
/// Ethernet.
///
/// # Errors
/// Any error of the writer.
pub fn write_pcap_header<W: Write>(w: &mut W) -> io::Result<()> {
    w.write_all(&0xa1b2_3c4du32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?;
    w.write_all(&262_144u32.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes()) // LINKTYPE_ETHERNET
}

/// One pcap record: the frame's time and bytes.
///
/// # Errors
/// Any error of the writer.
pub fn write_pcap_record<W: Write>(w: &mut W, time: SimTime, data: &[u8]) -> io::Result<()> {
    let ns = time.as_nanos();
    let len = data.len() as u32;
    w.write_all(&((ns / 1_000_000_000) as u32).to_le_bytes())?;
    w.write_all(&((ns % 1_000_000_000) as u32).to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut out = Vec::new();
        let frames = [Captured {
            time: SimTime(1_000_000_123),
            data: Bytes::from_static(&[1, 2, 3]),
        }];
        write_pcap(&mut out, &frames).expect("writing to a Vec cannot fail");
        assert_eq!(&out[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(out.len(), 24 + 16 + 3);
        assert_eq!(&out[24..28], &1u32.to_le_bytes());
        assert_eq!(&out[28..32], &123u32.to_le_bytes());
        assert_eq!(&out[40..43], &[1, 2, 3]);
    }
}
