use crate::common::*;
use crossrank_tokenizer::{EncodedWindows, ErrorKind, Truncation};
use proptest::prelude::*;

/// The document tokens of each window (type id 1, without the final [SEP]).
fn document_parts(windows: &EncodedWindows) -> Vec<Vec<u32>> {
    windows
        .pairs
        .pairs()
        .map(|(ids, types)| {
            let second: Vec<u32> = ids.iter().zip(types).filter(|(_, &t)| t == 1).map(|(&id, _)| id).collect();
            assert_eq!(second.last(), Some(&SEP));
            second[..second.len() - 1].to_vec()
        })
        .collect()
}

/// The document's own tokens, no special tokens.
fn tokens(t: &PairTokenizer, text: &str) -> Vec<u32> {
    let (ids, _) = pair(t, "", text, 100_000, Truncation::OnlySecond);
    // [CLS] [SEP] text [SEP]
    ids[2..ids.len() - 1].to_vec()
}

use crossrank_tokenizer::PairTokenizer;

#[test]
fn a_document_that_fits_is_one_window_equal_to_the_pair() {
    let t = uncased();
    let docs = ["hello world", "the cafe", ""];
    let out = t.encode_windows("hello", &docs, 64, 4096, Some(8)).unwrap();
    assert_eq!(out.documents, vec![0, 1, 2]);
    for (i, (ids, types)) in out.pairs.pairs().enumerate() {
        let (want_ids, want_types) = pair(&t, "hello", docs[i], 64, Truncation::OnlySecond);
        assert_eq!((ids.to_vec(), types.to_vec()), (want_ids, want_types), "document {i}");
    }
    assert_eq!(out.starts, vec![0, 0, 0]);
    assert_eq!(out.ends, vec![11, 8, 0]);
}

#[test]
fn windows_share_the_overlap_and_cover_the_document() {
    let t = uncased();
    let document = (0..40).map(|i| ["hello", "world", "the", "cafe", "run"][i % 5]).collect::<Vec<_>>().join(" ");
    // maxLength 16: [CLS] q [SEP] ... [SEP] leaves 12 for the document.
    let out = t.encode_windows("q", &[document.as_str()], 16, 4096, Some(4)).unwrap();
    assert_eq!(out.window_tokens, 12);
    let parts = document_parts(&out);
    let all = tokens(&t, &document);
    // Windows start every 12 - 4 = 8 tokens; the last ends at the document's end.
    let mut start = 0;
    for (w, part) in parts.iter().enumerate() {
        let stop = (start + 12).min(all.len());
        assert_eq!(part, &all[start..stop], "window {w}");
        start += 8;
    }
    assert_eq!(parts.len(), 5, "40 tokens: windows at 0, 8, 16, 24, 32");
    assert!(out.pairs.lengths.iter().all(|&len| len <= 16));
    assert_eq!(*out.ends.last().unwrap() as usize, document.len());
    // Each span's text is exactly the window's tokens.
    for (w, part) in parts.iter().enumerate() {
        let span = &document[out.starts[w] as usize..out.ends[w] as usize];
        assert_eq!(&tokens(&t, span), part, "window {w} span {span:?}");
    }
}

#[test]
fn max_tokens_per_doc_cuts_the_document_first() {
    let t = uncased();
    let document = vec!["hello"; 30].join(" ");
    let out = t.encode_windows("q", &[document.as_str()], 16, 10, Some(2)).unwrap();
    assert_eq!(out.window_tokens, 10);
    let parts = document_parts(&out);
    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![10], "10 tokens kept, one window");
    let out = t.encode_windows("q", &[document.as_str()], 8, 10, Some(2)).unwrap();
    // Room 4 beside "q": windows at 0, 2, 4, 6 over the first 10 tokens (overlap 2 = half a window).
    assert_eq!(document_parts(&out).iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 4, 4]);
}

#[test]
fn a_long_query_keeps_half_the_room() {
    let t = uncased();
    let query = vec!["world"; 50].join(" ");
    let out = t.encode_windows(&query, &["hello hello hello hello hello hello hello hello hello hello"], 23, 4096, Some(0)).unwrap();
    // Room 20: the query keeps 10 tokens, windows hold 10.
    assert_eq!((out.query_tokens, out.window_tokens), (10, 10));
    assert_eq!(document_parts(&out).len(), 1);
}

#[test]
fn spans_are_utf16_offsets() {
    let t = uncased();
    // 😀 is two UTF-16 units and four bytes; é is one unit and two bytes.
    let document = "😀 café hello café hello café hello";
    let out = t.encode_windows("q", &[document], 8, 4096, Some(1)).unwrap();
    let utf16: Vec<u16> = document.encode_utf16().collect();
    assert_eq!(*out.ends.last().unwrap() as usize, utf16.len());
    for (w, part) in document_parts(&out).iter().enumerate() {
        let span = String::from_utf16(&utf16[out.starts[w] as usize..out.ends[w] as usize]).unwrap();
        assert_eq!(&tokens(&t, &span), part, "window {w} span {span:?}");
    }
}

#[test]
fn bad_arguments_are_errors() {
    let t = uncased();
    let err = t.encode_windows("q", &["x"], 4, 4096, Some(0)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("maxLength"), "{}", err.message);
    let err = t.encode_windows("q", &["x"], 16, 0, Some(0)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["hello", "world", "café", "你", "好", "!", "😀", "token", "x"]), 0..60)
        .prop_map(|words| words.join(" "))
}

proptest! {
    #[test]
    fn windows_reassemble_the_document(doc in text(), max_length in 6usize..40, overlap in 0usize..8) {
        let t = uncased();
        let out = t.encode_windows("q", &[doc.as_str()], max_length, 4096, Some(overlap)).unwrap();
        let window = out.window_tokens as usize;
        let step = window - overlap.min(window / 2);
        let mut rebuilt: Vec<u32> = Vec::new();
        for (w, part) in document_parts(&out).iter().enumerate() {
            prop_assert!(part.len() <= window);
            if w == 0 { rebuilt.extend(part); } else {
                prop_assert_eq!(&rebuilt[w * step..], &part[..rebuilt.len() - w * step]);
                rebuilt.extend(&part[rebuilt.len() - w * step..]);
            }
        }
        prop_assert_eq!(rebuilt, tokens(&t, &doc));
        prop_assert!(out.pairs.lengths.iter().all(|&len| len as usize <= max_length));
    }
}
