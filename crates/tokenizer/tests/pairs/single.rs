use crate::common::*;
use crossrank_tokenizer::{ErrorKind, PairTokenizer};

fn texts(t: &PairTokenizer, texts: &[&str], max_length: usize) -> Vec<(Vec<u32>, Vec<u8>)> {
    let out = t.encode_texts(texts, max_length).unwrap();
    assert_eq!(out.lengths.len(), texts.len());
    out.pairs()
        .map(|(ids, types)| (ids.to_vec(), types.to_vec()))
        .collect()
}

#[test]
fn a_text_alone_is_cls_text_sep_with_type_ids_zero() {
    let t = uncased();
    let got = texts(&t, &["Hello world!", "", "the café"], 512);
    assert_eq!(
        got[0].0,
        [vec![CLS], ids(&["hello", "world", "!"]), vec![SEP]].concat()
    );
    assert_eq!(got[0].1, vec![0; 5]);
    assert_eq!(got[1], (vec![CLS, SEP], vec![0, 0]));
    assert_eq!(got[2].0, [vec![CLS], ids(&["the", "cafe"]), vec![SEP]].concat());
}

#[test]
fn a_long_text_keeps_its_first_tokens() {
    let t = uncased();
    let long = vec!["hello"; 40].join(" ") + " world";
    let got = texts(&t, &[&long, "world"], 8);
    assert_eq!(got[0].0, [vec![CLS], vec![id("hello"); 6], vec![SEP]].concat());
    assert_eq!(got[0].1, vec![0; 8]);
    assert_eq!(got[1].0, vec![CLS, id("world"), SEP]);
    // Exactly at the limit: nothing is cut.
    let six = vec!["x"; 6].join(" ");
    assert_eq!(texts(&t, &[&six], 8)[0].0.len(), 8);
}

#[test]
fn tokenizer_json_and_vocab_txt_encode_texts_alike() {
    let from_vocab = uncased();
    let dir = json_dir(&tokenizer_json(true, None));
    let from_json = PairTokenizer::from_dir(dir.path()).unwrap();
    let input = ["Hello naïve tokens!", "你好 world", "q"];
    assert_eq!(texts(&from_vocab, &input, 6), texts(&from_json, &input, 6));
}

#[test]
fn max_length_must_leave_room_for_a_token() {
    let t = uncased();
    let error = t.encode_texts(&["hello"], 2).unwrap_err();
    assert_eq!(error.kind, ErrorKind::InvalidArgument);
    assert!(
        error.message.contains("maxLength must be >= 3"),
        "{}",
        error.message
    );
    assert_eq!(texts(&t, &["hello world"], 3)[0].0, vec![CLS, id("hello"), SEP]);
}

#[test]
fn real_model_texts_match_its_pair_encoding_of_the_first_segment() {
    let Some(dir) = real_model_dir() else { return };
    let t = PairTokenizer::from_dir(dir).unwrap();
    let text = "How do rerankers work? A cross-encoder reads both texts.";
    let single = texts(&t, &[text], 256).remove(0).0;
    let pair = ids_of(&t, text, "x");
    // [CLS] text [SEP] is the pair's first segment.
    assert_eq!(single, pair[..single.len()].to_vec());
}
