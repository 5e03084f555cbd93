//! The byte encodings the files share, each written once: little-endian numbers (safetensors
//! tensors) and lowercase hex (data digests, keys).

/// `values` as little-endian bytes, as safetensors stores F32 tensors.
pub fn f32s_to_le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian F32 tensor bytes as values; a trailing partial value is ignored (tensor readers
/// check the length first).
pub fn f32s_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes.as_chunks().0.iter().map(|&b| f32::from_le_bytes(b)).collect()
}

/// `values` as little-endian bytes, as safetensors stores U32 tensors.
pub fn u32s_to_le(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian U32 tensor bytes as values, like [`f32s_from_le`].
pub fn u32s_from_le(bytes: &[u8]) -> Vec<u32> {
    bytes.as_chunks().0.iter().map(|&b| u32::from_le_bytes(b)).collect()
}

/// `bytes` as lowercase hex, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip_and_match_the_standard_forms() {
        let floats = [0.0, -1.5, f32::MIN_POSITIVE, 3.0e38];
        assert_eq!(f32s_from_le(&f32s_to_le(&floats)), floats);
        assert_eq!(f32s_to_le(&[1.0]), [0x00, 0x00, 0x80, 0x3f]);
        assert_eq!(u32s_from_le(&u32s_to_le(&[0, 7, u32::MAX])), [0, 7, u32::MAX]);
        assert_eq!(u32s_to_le(&[0x0102_0304]), [4, 3, 2, 1]);
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }
}
