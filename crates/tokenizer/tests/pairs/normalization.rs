use crate::common::*;
use serde_json::json;

#[test]
fn uncased_lowercases_and_strips_accents() {
    let t = uncased();
    assert_eq!(
        ids_of(&t, "HeLLo CAFÉ", "Naïve"),
        ids(&["[CLS]", "hello", "cafe", "[SEP]", "naive", "[SEP]"])
    );
}

#[test]
fn strip_accents_false_keeps_accents_when_lowercasing() {
    let t = tiny(Some(json!({"do_lower_case": true, "strip_accents": false})));
    assert_eq!(
        ids_of(&t, "CAFÉ", "naïve"),
        ids(&["[CLS]", "café", "[SEP]", "naïve", "[SEP]"])
    );
}

#[test]
fn cased_keeps_case_and_accents() {
    let t = tiny(Some(json!({"do_lower_case": false})));
    assert_eq!(
        ids_of(&t, "Hello Café", "hello café naïve"),
        ids(&["[CLS]", "Hello", "Café", "[SEP]", "hello", "café", "naïve", "[SEP]"])
    );
}

#[test]
fn chinese_characters_are_split() {
    let t = uncased();
    assert_eq!(
        ids_of(&t, "你好hello", "好你"),
        ids(&["[CLS]", "你", "好", "hello", "[SEP]", "好", "你", "[SEP]"])
    );
    let no_split = tiny(Some(json!({"tokenize_chinese_chars": false})));
    assert_eq!(
        ids_of(&no_split, "你好", ""),
        ids(&["[CLS]", "[UNK]", "[SEP]", "[SEP]"])
    );
}

#[test]
fn wordpiece_and_punctuation() {
    let t = uncased();
    assert_eq!(
        ids_of(&t, "tokens, running!", "xyy."),
        // "running" cannot be completed ("##ning" is missing), so the whole word is [UNK].
        ids(&["[CLS]", "token", "##s", ",", "[UNK]", "!", "[SEP]", "x", "##y", "##y", ".", "[SEP]"])
    );
}

#[test]
fn empty_and_whitespace_only() {
    let t = uncased();
    assert_eq!(ids_of(&t, "q", ""), vec![CLS, id("q"), SEP, SEP]);
    assert_eq!(ids_of(&t, "", ""), vec![CLS, SEP, SEP]);
    assert_eq!(ids_of(&t, " \t\n\r\u{3000}", "\u{a0} "), vec![CLS, SEP, SEP]);
}

#[test]
fn emoji_are_unknown_words() {
    let t = uncased();
    // Emoji are neither punctuation nor CJK, so adjacent ones form one word.
    assert_eq!(
        ids_of(&t, "emoji 😀", "🤖🚀 x"),
        ids(&["[CLS]", "emoji", "[UNK]", "[SEP]", "[UNK]", "x", "[SEP]"])
    );
}

#[test]
fn control_characters_and_replacement_char_are_removed() {
    // JS lone surrogates arrive as U+FFFD; Hugging Face's clean_text drops it like NUL and controls.
    let t = uncased();
    assert_eq!(
        ids_of(&t, "x\u{0}\u{7}\u{1b}y", "\u{fffd}q\u{fffd}"),
        ids(&["[CLS]", "x", "##y", "[SEP]", "q", "[SEP]"])
    );
    assert_eq!(ids_of(&t, "\u{fffd}", "\u{0}"), vec![CLS, SEP, SEP]);
}

#[test]
fn literal_special_tokens_match_as_hugging_face_does() {
    let t = uncased();
    assert_eq!(
        ids_of(&t, "[SEP]", "[mask]"),
        ids(&["[CLS]", "[SEP]", "[SEP]", "[", "mask", "]", "[SEP]"])
    );
}

#[test]
fn words_over_100_chars_are_unknown() {
    let t = uncased();
    let word_100 = format!("x{}", "y".repeat(99));
    let word_101 = format!("x{}", "y".repeat(100));
    let expected = [vec![CLS, id("x")], vec![id("##y"); 99], vec![SEP, UNK, SEP]].concat();
    assert_eq!(ids_of(&t, &word_100, &word_101), expected);
}
