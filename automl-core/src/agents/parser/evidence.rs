//! Evidence for the embedded parser: a request is cut into sections (a title, "Evaluation",
//! "Data", background...; see [`crate::agents::brief`]), each section is searched for pieces of evidence (metric names, file
//! types, data descriptions, task statements, submission formats, the kinds of task automl
//! cannot train), and each piece counts with the weight of its kind times the weight of the
//! section it was found in. A piece in a negated phrase ("the images are not included") does
//! not count.

use std::sync::LazyLock;

use regex::Regex;

use crate::agents::brief::{Role, Section};
use crate::event::Modality;

/// What a piece of evidence speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    /// The data is of this kind.
    Modality(Modality),
    /// A class is predicted.
    Classification,
    /// A number is predicted.
    Regression,
    /// A task automl cannot train, by its task type.
    Unsupported(&'static str),
}

/// A modality said to be absent ("the images are not included"): its evidence is dropped.
static ABSENT: LazyLock<Vec<(Regex, Modality)>> = LazyLock::new(|| {
    let r = |p: &str| Regex::new(p).expect("static regex");
    vec![
        (
            r(
                r"\b(images?|photos?|pictures?|scans?)( themselves)? (are|is|were|was) not (included|provided|available|given|shared)",
            ),
            Modality::Image,
        ),
        (
            r(
                r"\b(audio|recordings?|sound files?)( themselves)? (are|is|were|was) not (included|provided|available|given|shared)",
            ),
            Modality::Audio,
        ),
        (
            r(
                r"\b(texts?|documents?|raw text)( themselves)? (are|is|were|was) not (included|provided|available|given|shared)",
            ),
            Modality::Text,
        ),
        // Only the metadata of the pictures or recordings is at hand: the pictures are not.
        (
            r(
                r"\b(only|just)\s+(have|got|keep|store|get)\s+(the\s+|their\s+|its\s+|some\s+)?meta-?data\b",
            ),
            Modality::Image,
        ),
        (
            r(
                r"\b(only|just)\s+(have|got|keep|store|get)\s+(the\s+|their\s+|its\s+|some\s+)?meta-?data\b",
            ),
            Modality::Audio,
        ),
    ]
});

/// Abbreviations whose full stops end no sentence ("croissants, muffins etc. to bake", "e.g.").
static ABBREVIATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(etc|e\.g|i\.e|vs|approx|incl|esp|cf|resp)\.").expect("static regex")
});

/// `text` with the full stops of abbreviations replaced by spaces (byte offsets kept), so that
/// "etc." or "e.g." does not cut a sentence or stop a pattern that reads to the sentence's end.
pub(super) fn unabbreviate(text: &str) -> String {
    let mut out = text.to_string();
    for m in ABBREVIATION.find_iter(text) {
        out.replace_range(m.start()..m.end(), &m.as_str().replace('.', " "));
    }
    out
}

/// `text` with the line breaks of hard-wrapped paragraphs replaced by spaces (byte offsets
/// kept; see [`line_ends_sentence`]), so that a sentence or a list wrapped over two lines is
/// read as one.
pub(super) fn unwrap_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        if ch == '\n' && !line_ends_sentence(text, start, i) {
            out.push(' ');
        } else {
            out.push(ch);
        }
        if ch == '\n' {
            start = i + 1;
        }
    }
    out
}

/// A kind of evidence: a pattern, what it claims and how much one match weighs.
struct Cue {
    re: Regex,
    claim: Claim,
    weight: f64,
}

static CUES: LazyLock<Vec<Cue>> = LazyLock::new(|| {
    use Claim::*;
    let c = |p: &str, claim: Claim, weight: f64| Cue {
        re: Regex::new(p).expect("static regex"),
        claim,
        weight,
    };
    vec![
        // --- image: file types, imaging words, vision words
        c(
            r"\.(jpe?g|png|tiff?|dcm|dicom|bmp|gif|webp|nii)\b|\b(jpe?g|png|dicom|tiff?) (files?|images?|format)",
            Modality(crate::event::Modality::Image),
            3.0,
        ),
        c(
            r"\b(images?|imagery|photos?|photographs?|pictures?|pixels?)\b",
            Modality(crate::event::Modality::Image),
            1.6,
        ),
        c(
            r"\b(x-?rays?|radiographs?|mri|ct scans?|mammogra\w*|ultrasound|endoscop\w*|fundus|retina\w*|dermoscop\w*|histopatholog\w*|microscop\w*|whole[- ]slide|chest film)\b",
            Modality(crate::event::Modality::Image),
            1.5,
        ),
        c(
            r"\b(camera ?traps?|cameras?|satellite|aerial|drones?)\b",
            Modality(crate::event::Modality::Image),
            1.0,
        ),
        c(
            r"\b(rgb|grayscale|greyscale|thumbnails?|convolutional|cnns?|computer vision|handwritten|drawings?|sketch(es)?|scanned)\b",
            Modality(crate::event::Modality::Image),
            1.2,
        ),
        // A size in pixels ("28x28", "512x512 px"), not a size with a unit ("30x30 m cells").
        c(
            r"\b\d+\s?x\s?\d+(\s?(pixels?|px)\b|\s+(rgb|gr[ae]yscale|colou?r|images?|photos?|pictures?|patches|crops|tiles|thumbnails?|frames?)\b|\s?[),;]|\.(\s|$)|\s*$)",
            Modality(crate::event::Modality::Image),
            1.2,
        ),
        // A video is a sequence of pictures.
        c(
            r"\b(videos?|footage|dashcams?|cctv|webcams?|video frames?)\b",
            Modality(crate::event::Modality::Image),
            1.5,
        ),
        // --- text: kinds of writing, language words
        c(
            r"\b(texts?|textual|sentences?|paragraphs?|documents?|essays?|articles?|headlines?|tweets?|reviews?|comments?|posts?|e-?mails?|sms|messages?|narratives?|transcripts?|abstracts?|passages?|phrases?|utterances?|queries|words?|tokens?|vocabulary|corpus|corpora|titles?|questions?|answers?|dialog(ue)?s?|conversations?|prompts?|responses?|stories|books?|news)\b",
            Modality(crate::event::Modality::Text),
            0.9,
        ),
        c(
            r"\b(natural language|nlp|language models?|linguistic\w*|bert|roberta|transformers?|sentiment|toxic\w*|spam|hate speech|offensive|sarcas\w*|stance|intents?|topics?|wording|written|writing|authors?|speech acts?)\b",
            Modality(crate::event::Modality::Text),
            1.4,
        ),
        c(
            r"\b(english|spanish|french|german|arabic|chinese|hindi|tamil|russian|japanese|portuguese|indonesian|turkish|polish|korean|vietnamese|multilingual|monolingual|languages?)\b",
            Modality(crate::event::Modality::Text),
            0.6,
        ),
        // --- audio: file types and sound words
        c(
            r"\.(wav|mp3|flac|ogg|aiff?|m4a)\b|\b(wav|mp3|flac) (files?|format)",
            Modality(crate::event::Modality::Audio),
            3.5,
        ),
        c(
            r"\b(audio|sounds?|speech|spoken|speakers?|acoustic\w*|microphones?|spectrograms?|mfccs?|phonemes?|khz|sampling rate|sample rate|asr|voices?|music(al)?|songs?|birdsong|vocali[sz]ations?|hydrophones?|noise)\b",
            Modality(crate::event::Modality::Audio),
            1.5,
        ),
        c(
            r"\b(recordings?|recorded|clips?|calls)\b",
            Modality(crate::event::Modality::Audio),
            0.6,
        ),
        // --- time series: forecasting and ordered measurements
        c(
            r"\btime[- ]series\b",
            Modality(crate::event::Modality::TimeSeries),
            3.0,
        ),
        c(
            r"\bforecast\w*",
            Modality(crate::event::Modality::TimeSeries),
            2.0,
        ),
        c(
            r"\b(historical|past) (sales|data|values|prices|demand|traffic|load|observations)\b|\b(next|following|coming) (\d+ )?(days?|weeks?|months?|hours?|minutes?|years?|quarters?|steps?)\b",
            Modality(crate::event::Modality::TimeSeries),
            1.8,
        ),
        c(
            r"\btime[_ ]?steps?\b|\bper (time )?step\b",
            Modality(crate::event::Modality::TimeSeries),
            1.5,
        ),
        c(
            r"\b(ordered by time|time intervals?|over time|sequences? of (readings|measurements|observations|values)|measured every|every \d+ (ms|milliseconds|seconds|minutes))\b",
            Modality(crate::event::Modality::TimeSeries),
            2.0,
        ),
        c(
            r"\b(sensors?|signals?|seismic\w*|waveforms?|timestamps?|lags?|horizon|seasonal\w*|trends?|temporal|daily|weekly|hourly|monthly|per second|sampled at|trajector(y|ies))\b",
            Modality(crate::event::Modality::TimeSeries),
            0.6,
        ),
        // Physiological and motion recordings are signals sampled in time.
        c(
            r"\b(eeg|ecg|ekg|emg|electroencephalogra\w*|electrocardiogra\w*|accelerometers?|gyroscopes?)\b",
            Modality(crate::event::Modality::TimeSeries),
            2.0,
        ),
        // --- tabular: tables, columns, records about entities
        c(
            r"\b(tabular|spreadsheets?|excel|parquet|dataframes?|table)\b",
            Modality(crate::event::Modality::Tabular),
            1.5,
        ),
        c(
            r"\b(columns?|rows?|features?|attributes?|variables?|predictors?|covariates?|instances)\b",
            Modality(crate::event::Modality::Tabular),
            0.6,
        ),
        c(
            r"\b(categorical|numerical|numeric|continuous|discrete|binary|ordinal|nominal|integer|real) (features?|variables?|attributes?|columns?|values|inputs?)\b|\b(anonymi[sz]ed|engineered) features\b",
            Modality(crate::event::Modality::Tabular),
            2.0,
        ),
        c(
            r"\b(demographic\w*|customers?|patients?|applicants?|passengers?|clients?|households?|individuals|employees?|loans?|transactions?|insurance|census|surveys?|records|measurements?|policyholders?|buildings?|properties|vehicles?|cars?|molecules?|compounds?|materials?)\b",
            Modality(crate::event::Modality::Tabular),
            0.6,
        ),
        c(
            r"\b(features|measurements|attributes|statistics|descriptors|values) (are |were )?(computed|extracted|derived|calculated|measured) from\b",
            Modality(crate::event::Modality::Tabular),
            3.0,
        ),
        c(
            r"\b(uci|openml|playground series|tabular playground|synthetically[- ]generated|generated from a deep learning model trained on)\b",
            Modality(crate::event::Modality::Tabular),
            2.0,
        ),
        // --- regression: metrics, statements of a numeric target
        c(
            r"\b(rmse|rmsle|mse|mae|mape|smape|wrmsse|msle|rmspe|mcrmse|nrmse|medae)\b",
            Regression,
            4.0,
        ),
        c(
            r"\b(root[- ]mean[- ]squared?([- ]logarithmic)?[- ]error|mean[- ]squared?[- ]error|mean[- ]absolute([- ]percentage)?[- ]error|squared error|absolute error|logarithmic error|pinball|quantile loss)\b",
            Regression,
            4.0,
        ),
        c(
            r"\b(r2|r\^2|r²|r-squared|coefficient of determination|pearson|spearman|correlation coefficient)\b",
            Regression,
            3.0,
        ),
        c(
            r"\b(regression|regressor|continuous (target|value|variable|outcome|score)|real[- ]valued|numeric(al)? (target|value|score|prediction|outcome))\b",
            Regression,
            3.0,
        ),
        c(
            r"\b(predict\w*|estimat\w*|forecast\w*|model\w*)\s+(the\s+|a\s+|an\s+|its\s+|their\s+)?([a-z-]+\s+){0,3}?(price|prices|cost|costs|amount|amounts|number|count|counts|value|values|sales|revenue|demand|duration|age|weight|height|temperature|yield|rate|percentage|fraction|concentration|quantity|volume|distance|length|pressure|energy|consumption|load|power|views|traffic|time to|score|scores|fare|fares|salary|income|losses|resistance|velocity|speed|force|strength|density|viscosity|luminosity|intensity|magnitude|position|angles?|elevation|depth|area)\b",
            Regression,
            2.5,
        ),
        c(
            r"\bhow (many|much|long)\b|\bon a scale (of|from)\b|\b(percent|percentage) of\b",
            Regression,
            1.5,
        ),
        // A graded target: a similarity score, the mean of several judges' grades, a score
        // given as a range of numbers or as a float.
        c(
            r"\b(similarity|relatedness) scores?\b|\b(mean|average|averaged) (of )?(the |all )?(\w+ )?(scores|grades|ratings|judg(e)?ments)\b|\bmean ?grades?\b|\bscores? (ranging |range )?(from|between) -?\d+(\.\d+)? (\([^)]*\) )?(to|and) -?\d+|\b(score|label|target|grade|rating)\w*`?:?\s+(as a |is a |a )?`?(float|real number)\b",
            Regression,
            2.5,
        ),
        // A forecast is of a future quantity unless a class is said to be forecast.
        c(r"\bforecast(s|ing|ed)?\b", Regression, 1.5),
        // --- classification: metrics, classes, probabilities, yes/no statements
        c(
            r"\b(accuracy|auc|roc|log[- ]?loss|logloss|cross[- ]entropy|f1|f-score|f-measure|f2|precision|recall|sensitivity|specificity|kappa|mcc|matthews|error rate|top-\d+)\b",
            Classification,
            3.0,
        ),
        c(
            r"\b(classif\w*|categori[sz]\w*|class(es)?|labels?|labell?ed|binary|multi-?class|multi-?label)\b",
            Classification,
            1.0,
        ),
        c(r"\bprobabilit(y|ies)\b|\blikelihood\b", Classification, 1.4),
        c(
            r"\b(most likely to|likely to (be|have|default|churn|leave|buy)|predict which|at risk of|will (default|churn|leave|survive|buy))\b",
            Classification,
            1.5,
        ),
        c(
            r"\b(approval|approved|presence|acceptance|accepted|success|pass|win|alive|good|yes|true|benign|malignant|present|positive|survived|spam|fraud|legitimate|real|normal) or (denial|denied|absence|rejection|rejected|failure|fail|loss|dead|bad|no|false|malignant|benign|absent|negative|died|ham|not|fake|abnormal)\b",
            Classification,
            3.0,
        ),
        c(
            r"\b(whether|yes/no|true/false|is it|or not)\b",
            Classification,
            1.5,
        ),
        c(
            r"\b(identify|identification|detect(ion)?|recogni[sz](e|ing|ition)|diagnos\w*|distinguish|discriminat\w*|which (one|of|class|category|species|type|kind)|one of (the )?(\w+ )?(classes|categories|types|following))\b",
            Classification,
            1.0,
        ),
        c(
            r"\b(species|breeds?|genres?|sentiment|spam|fraud\w*|churn|default|toxic\w*|malignant|benign|diseases?|survived?|positive|negative|present|absent|grades?|types?|kinds?)\b",
            Classification,
            0.6,
        ),
        // A column given with its values as alternatives in brackets ("attrition (yes/no)",
        // "status (fully paid / charged off)") names the classes of a target. A bracketed list
        // with commas is not enough: it as often lists the columns of a table.
        c(
            r"\b[a-z][\w-]*\s\([a-z]+(\s[a-z]+)?\s?/\s?[a-z]+(\s[a-z]+)?(\s?/\s?[a-z]+(\s[a-z]+)?)*\)",
            Classification,
            1.5,
        ),
        // Whether a quantity passes a threshold ("whether income exceeds 50K") is a yes/no.
        c(
            r"\b(whether|if)\b[^.;\n]{0,40}?\b(exceeds?|is above|is below|is over|is under|goes above|goes below|more than|less than|greater than|at least)\s[$€£]?\d",
            Classification,
            2.5,
        ),
        // "Detection" of a kind of message or behaviour is a yes/no (or which-kind) label.
        c(
            r"\b(spam|fraud|intent|language|sarcasm|toxicity|hate speech|fake news|phishing|churn|bot|default|plagiarism|emotion|sentiment)\s+(detection|detector|classifier|identification)\b",
            Classification,
            2.0,
        ),
        // The task framed in so many words: "as a class", "a classification problem".
        c(
            r"\bas (a |one )?(class|category|label)(es)?\b|\bas (classes|categories|labels)\b|\b(a|the) classification (problem|task)\b",
            Classification,
            3.0,
        ),
        c(
            r"\bas (a |an )?(number|real number|continuous (value|number|score)|quantity)\b|\b(a|the) regression (problem|task)\b",
            Regression,
            3.0,
        ),
        // An indicator (a flag variable) is a yes/no target.
        c(
            r"\b(survival|binary|boolean|dummy|event|outcome|target) (indicator|flag)s?\b|\bindicator (for|of|variable|column)\b|\b(a|an|the) [a-z]+ indicator (per|for|of)\b",
            Classification,
            2.0,
        ),
        // A target described as what something is or how it ended is a class.
        c(
            r"\b(target|label|outcome)( variable| column)?\s*(:|is|=)\s*(the\s+)?([a-z-]+\s+){0,3}?(identity|result|status|class|category|type|kind|presence|diagnosis)\b",
            Classification,
            2.5,
        ),
        // Free text kept in a table: a column or field named for writing (the body of an
        // email, a review's text, a complaint narrative) is what the model reads.
        c(
            r#"\b(columns?|fields?|with)\b[^.;\n]{0,60}?[\s,(`'"](subject|body|comment_text|review_text|text|message|narrative|excerpt|utterance|tweet|transcript|headline|premise|hypothesis)[`'"]?(\s*,|\s+and\b|\s*\)|\s+column|\s+field)"#,
            Modality(crate::event::Modality::Text),
            3.0,
        ),
        // A regular clock: readings every minute, a sampling rate, bars of a fixed length, the
        // next day's value.
        c(
            r"\bevery (minute|second|hour|\d+ ?(ms|s|sec|secs|seconds|min|mins|minutes|hours?))\b|\b\d+ ?hz\b|\b\d+[- ](minute|second|hour|min) (bars|intervals|readings|candles|data|resolution)\b|\btomorrow'?s?\b|\bnext[- ](day|hour|minute)'?s?\b",
            Modality(crate::event::Modality::TimeSeries),
            1.8,
        ),
        // A table said to hold one row per entity.
        c(
            r"\bone (row|record|line) (per|for each|for every)\b",
            Modality(crate::event::Modality::Tabular),
            2.0,
        ),
        // Metadata (facts about films, photos, songs) is kept in tables.
        c(
            r"\bmeta-?data\b",
            Modality(crate::event::Modality::Tabular),
            0.8,
        ),
        // File types that only hold tables. CSV is not among them: competitions ship texts,
        // time series and image labels as CSV too.
        c(
            r"\.(xlsx?|parquet|feather|arff|sav|dta|sas7bdat)\b|\b(xlsx|parquet|arff) (files?|format|exports?)\b",
            Modality(crate::event::Modality::Tabular),
            2.0,
        ),
        // File types that hold documents.
        c(
            r"\.(txt|pdf|docx?|md|html?)\b",
            Modality(crate::event::Modality::Text),
            1.5,
        ),
        // Something turned into rows and columns is read as a table, whatever it was first
        // (see [`CONVERSION`]).
        c(
            CONVERSION_PATTERN,
            Modality(crate::event::Modality::Tabular),
            3.0,
        ),
        // The output named as a list of alternatives ("as low, medium or high") is a class.
        c(
            r"\b(into|as|either)\s+(one of\s+)?(the\s+)?[\w-]+( [\w-]+)?(, [\w-]+( [\w-]+)?)*,? or [\w-]+",
            Classification,
            2.0,
        ),
        // The predicted thing given with a unit ("the rent in EUR") is a quantity.
        c(
            r"\b(predict\w*|estimat\w*|forecast\w*|what|how)\b[^.;:\n]{0,60}?\b(in|as)\s+(euros?|eur|dollars?|usd|gbp|pounds|kwh|mwh|mpa|kg|kilograms?|lit(er|re)s?|tonnes?|tons?|grams?|km|kilomet(er|re)s?|met(er|re)s?|minutes|seconds|hours|days|weeks|years|percent|kcal|calories)\b",
            Regression,
            2.0,
        ),
        // --- tasks automl does not train
        c(
            r"\b(object detection|bounding[- ]box(es)?|bbox(es)?|x_?min|y_?min|xmin|ymin|locali[sz](e|es|ing|ation)|iou|intersection over union|detect and (locali[sz]e|locate))\b",
            Unsupported("object_detection"),
            3.0,
        ),
        c(
            r"\b(segmentation|segment (the|each)|masks?|run[- ]length encod\w*|rle|pixel[- ]?(wise|level)|per[- ]pixel|dice)\b",
            Unsupported("image_segmentation"),
            2.5,
        ),
        c(
            r"\b(generat(e|es|ing|ion|ive)|translat(e|es|ion|ing|ions)|summari[sz](e|es|ation|ing|ations)|summaries|summary of|abstractive|captioning|captions? for|bleu|rouge|meteor|cider|perplexity|language model(l)?ing|text normali[sz]ation|normali[sz]ed (text|form)|paraphras\w*|image[- ]to[- ]text|inchi|denois\w*|program synthesis|code generation|generate code|code solutions?|write a (python )?function|clean(ed)? (up )?(the )?(images|documents)|imput(e|ing|ation) (the )?missing word|fill in|completion)\b",
            Unsupported("generation"),
            2.0,
        ),
        c(
            r"\b(question[- ]answering|qa systems?|qa models?|answer spans?|reading comprehension|exact match|extractive|short answer|long answer|answer (the |user |their )?questions|answers? to (the |a |each |their |user )?questions?|(string|span|text) that (best )?answers|squad|open[- ]domain|chatbot)\b",
            Unsupported("question_answering"),
            3.0,
        ),
        c(
            r"\b(named[- ]entit\w*|ner|part[- ]of[- ]speech|pos tag\w*|token[- ]level|token classification|sequence labell?ing|chunking|span extraction|extract (the )?(word|phrase|span|support)\w*|selected_text|tagging|word[- ]level jaccard)\b",
            Unsupported("token_classification"),
            3.0,
        ),
        // Labels kept per token: a field of tag arrays (`ner_tags`, `pos_tags`), a tag for each
        // word, a tagging scheme (BIO, IOB, IOBES; "B-PER"), or labels given as character
        // spans. The unit labelled is a token or a span, not the document.
        c(
            r"\b(ner|pos|chunk|entity|bio|iob)_tags?\b|\b(tags?|labels?) (of|for) (each|every) (token|word)\b|\b(iob|bio|iobes|bioes|iob2) (format|scheme|notation|tags?|tagging|labels?)\b|\b[bi]-(per|org|loc|misc|gpe)\b|\bfirst token of\b|\bcharacter spans?\b|\bspan (offsets|start|end)\b",
            Unsupported("token_classification"),
            3.0,
        ),
        // An answer given by its offset in a context passage is an extracted span.
        c(r"\banswer_start\b", Unsupported("question_answering"), 3.0),
        c(
            r"\b(recommend(er|ers|ation|ations)|recommend (products|items|movies|articles|songs)|purchase history|personali[sz]ed (ranking|recommendations?))\b",
            Unsupported("recommendation"),
            2.5,
        ),
        c(
            r"\b(clustering|unsupervised|segment (our |the )?customers|group similar|cluster (our|the|my|these|all|similar|customers|users|documents|them)|into (groups|segments|clusters))\b",
            Unsupported("clustering"),
            2.5,
        ),
        c(
            r"\b(learning to rank|ndcg|kendall|correct order|reconstruct the order|rank(ing)? (the|of) (cells|documents|results|items))\b",
            Unsupported("ranking"),
            3.0,
        ),
        c(
            r"\b(speech recognition|speech-to-text|transcri(be|ption)s? of (the )?(audio|speech))\b",
            Unsupported("speech_recognition"),
            3.0,
        ),
        // Content the model must write or transform, named by its verb and its output rather
        // than by "generation": a rewrite, a reply, a headline, a sharper picture.
        c(
            r"\b(rewrit(e|es|ing)\s+(it|them|each|every|all|our|my|these|those|their)|upscal\w*|super[- ]resolution|sharpen\w*|colou?ri[sz]\w*|inpaint\w*|style transfer|text[- ]to[- ]sql|into sql)\b|\b(write|writes|writing|produce|produces|draft|drafts|compose|composes)\s+(a\s|an\s|the\s|one\s|each\s)?([\w-]+\s){0,3}?(summary|summaries|headlines?|captions?|repl(y|ies)|descriptions?|stor(y|ies)|poems?|letters?)\b|\bcontinue\s(it|them|the\s(story|text|sentence|paragraph))\b|\b(correct|correcting|fix|fixing)\s(the\s)?(grammar|spelling|typos)\b|\b(repl(y|ies)|respond\w*|answer\w*)\s(to\s)?([\w-]+\s){0,3}automatically\b|\b(turn|convert|transform)s?\s([\w-]+\s){1,4}into\s([\w-]+\s){0,2}(versions?|style)\b",
            Unsupported("generation"),
            2.5,
        ),
        // Boxes and positions of the things in a picture are detection, whatever the verb.
        c(
            r"\b(put|draw|place)s? (a )?box(es)? around\b|\bboxes around\b|\bwhere (each|every) [\w-]+('s)?( [\w-]+)? is\b|\blocate (each|every|all|the) ",
            Unsupported("object_detection"),
            3.0,
        ),
        // Where things are in each frame or picture is detection too.
        c(
            r"\b(where|locations?|positions?|coordinates)\b[^.;\n]{0,30}\bin (each|every|the) (frame|image|photo|picture)s?\b",
            Unsupported("object_detection"),
            3.0,
        ),
        // --- round 4: what the output IS, when no task word names it
        // The target's values listed after its name ("outcome (lived, died, euthanized)",
        // "status: active, paused or closed") are classes, as is a 0/1 target.
        c(
            r"\b(outcome|status|result|label|target|class|category|diagnosis|verdict|decision|grade|stage|severity|y)\s*(\(|:|=|is one of|can be)\s*[a-z][a-z-]*(\s[a-z-]+)?\s*(,|/|\bor\b)\s*[a-z][a-z-]*(\s[a-z-]+)?\s*(,|/|\bor\b|\band\b)\s*(or\s+)?[a-z][a-z-]*",
            Classification,
            2.5,
        ),
        c(
            r"\b(0\s?/\s?1|1\s?/\s?0|0 or 1|1 or 0|zero or one)\b",
            Classification,
            2.5,
        ),
        // A yes/no question about the future ("Will the trial convert to a paid plan?").
        c(
            r"(^|[.?!:]\s+|\n)will\s[^.?!\n]{3,100}\?",
            Classification,
            3.0,
        ),
        // One label for each cut of a signal: a window, a recording, a snapshot.
        c(
            r"\b(in|for|per|of|to) (each|every) (window|recording|segment|snapshot|clip|trace|beat|heartbeat|gesture|episode)s?\b|\bone (label|class|category|diagnosis) (per|for each|for every)\b",
            Classification,
            2.0,
        ),
        // A short list of items chosen for each user is a recommendation.
        c(
            r"\b(suggest|show|propose|offer|surface|pick|recommend)\w*\s+(to\s+)?(each\s+[\w-]+\s+|every\s+[\w-]+\s+|a\s+(user|customer|member|visitor|reader|listener|viewer)\s+|(users?|customers?|members?|visitors?|readers?|shoppers?)\s+)?(the\s+)?(\d+|top(\s\d+)?|a few|some|new|other|next|more|further|relevant|personali[sz]ed)\s+([\w-]+\s+){0,2}?(films?|movies?|products?|items?|songs?|tracks?|articles?|books?|restaurants?|jobs?|courses?|videos?|posts?|shows?|hotels?|recipes?|games?)\b|\b(they|he|she|users?|customers?)('ll| will| would)?( probably| most likely| likely)? (like|enjoy|want|buy|watch|read) (next|most)?\b",
            Unsupported("recommendation"),
            3.0,
        ),
        // Finding the most alike things (search by meaning, duplicates, neighbours).
        c(
            r"\b(semantic search|similarity search|vector search|near[- ]duplicates?|(learn|train|build|compute)\w* (an |the )?embeddings?|embeddings? so that)\b|\b(find|return|suggest|show|retriev\w*|search\w*|fetch|list)\b[^.;\n]{0,40}?\b(similar|most alike|closest|nearest|duplicates?)\b",
            Unsupported("similarity_search"),
            3.0,
        ),
        // Choosing the best plan (routes, schedules, prices) is optimisation, not prediction.
        c(
            r"\b(optimi[sz]\w*|minimi[sz]\w*|maximi[sz]\w*|compute|find|plan)\s+(the\s+|our\s+)?(best\s+|optimal\s+|shortest\s+|cheapest\s+)?([\w-]+\s+){0,3}?(routes?|routing|paths?|schedules?|rosters?|timetables?|pric(e|es|ing)|allocations?|assignments?|seating|layouts?)\b(\s+(of|for) (each|every|all|our))?|\b(vehicle routing|route optimi[sz]ation|travell?ing salesman|linear programming|integer programming|best route|shortest route|optimal route)\b",
            Unsupported("optimisation"),
            2.5,
        ),
        // A picture edited (the background removed, faces blurred) is a generated picture.
        c(
            r"\b(remov\w*|eras\w*|replac\w*|blur\w*|cut out|cutting out|delet\w*)\s+(the\s+)?([\w-]+\s+){0,2}?(backgrounds?|watermarks?|faces|logos?|shadows?|blemishes|glare|reflections?)\b|\bcut-?outs? of\b|\btransparent (png|background)s?\b",
            Unsupported("generation"),
            3.0,
        ),
        // Reading the writing in a picture (plates, meters, scans) is OCR.
        c(
            r"\b(optical character recognition|ocr (model|system|engine)|handwriting recognition|licen[cs]e plate (numbers?|recognition|reading)|read(s|ing)?\s+(the\s+)?([\w-]+\s+){0,2}?(text|plates?|numbers?|digits|characters|words|meters?|readings?|serial numbers?)\s+(from|off|in|on)\s+([\w-]+\s+){0,3}?(images?|photos?|pictures?|scans?|frames?|cameras?|videos?|footage))\b|\bread (the )?licen[cs]e plates?\b",
            Unsupported("ocr"),
            3.5,
        ),
        // Named fields pulled out of documents ("the invoice number, date and total from the
        // invoices", "output a JSON with those fields") are extraction, not one label.
        c(
            r"\b(extract|pull|parse|get|capture|fill in)\s+(out\s+)?(the\s+)?[\w-]+(\s[\w-]+){0,3},\s+([\w-]+\s){0,4}?[^.;\n]{0,60}?\b(from|out of)\s+([\w-]+\s+){0,3}?(invoices?|receipts?|documents?|contracts?|e-?mails?|pdfs?|forms?|letters?|reports?|cvs?|resumes?|texts?|pages?|notes?|statements?|records?)\b|\b(as|into|to|outputs?|returns?)\s+(a\s+)?(structured\s+)?json\b|\bjson with\b",
            Unsupported("information_extraction"),
            3.0,
        ),
        // Marking each thing found in a picture is detection.
        c(
            r"\b(mark|circle|outline|pinpoint)\w*\s+(each|every|all|the)\s+([\w-]+\s+)?(objects?|cars?|people|persons?|heads?|faces?|animals?|cells?|trees?|buildings?|defects?|birds?|fish|vehicles?|boats?|ships?|plants?|fruits?|pedestrians?)\b|\bcount\w*\s+(and\s+(mark|locate)\w*\s+)?(the\s+)?(number\s+of\s+)?[\w-]+\s+in\s+(each|every)\s+([\w-]+\s+){0,2}?(images?|photos?|pictures?|frames?)\b",
            Unsupported("object_detection"),
            3.0,
        ),
        // Counting things and saying where they are is detection.
        c(
            r"\bcount\w*\b[^.;\n]{0,80}?\b(and|then)\s+(show|mark|locate|tell|say|draw|give)\w*\s+(us\s+)?(where|the (positions?|locations?))\b",
            Unsupported("object_detection"),
            3.0,
        ),
        // The predicted thing given with a numeric range ("the final grade (0-20)") is a number.
        c(
            r"\b(predict\w*|estimat\w*|forecast\w*|target|outcome)\b[^.;\n]{0,40}?\(\s?-?\d+(\.\d+)?\s?(-|–|to)\s?-?\d+(\.\d+)?\s?\)",
            Regression,
            2.5,
        ),
        // Rows described as odd ones, unlike the others, are anomalies.
        c(
            r"\b(weird|odd|unusual|strange|abnormal-looking|suspicious-looking)\s+(ones|rows|records|transactions|readings|points|entries|cases|values)\b|\b(don't|do not|doesn't|does not) (look|behave) like the (rest|others)\b",
            Unsupported("anomaly_detection"),
            2.5,
        ),
        // Anomaly detection: no labels, only what looks unlike the rest.
        c(
            r"\b(anomal(y|ies|ous)|outliers?|novelty detection|look(s)? like the rest|unlike the rest)\b",
            Unsupported("anomaly_detection"),
            2.5,
        ),
        // --- round 5: what the output IS, by its form
        // A made artefact: a verb of making with a piece of writing, code or a picture as its
        // object ("write catchy titles", "generate product photos", "write the SQL query") is
        // generation, whatever the artefact is called. Only as a command or a request ("to
        // write", "that writes", at the start of a clause): "students write essays" and "the
        // camera produces images" describe the data.
        c(
            r"(^|[.!?:;,\n]\s*|\b(to|please|can|could|would|should|will|must|that|which|who|and|then|automatically|you|it|me|us|i|we)\s+)(generat(e|es|ing)|creat(e|ing)|writ(e|es|ing)|draft(s|ing)?|produc(e|ing)|compos(e|es|ing)|render(ing)?|synthesi[sz](e|es|ing)|come up with|invent)\s+(me\s+|us\s+)?((a|an|the|one|new|some|short|catchy|realistic|fake|synthetic|original)\s+)*([\w'-]+\s+){0,3}?(titles?|names?|slogans?|taglines?|headlines?|descriptions?|summar(y|ies)|captions?|repl(y|ies)|responses?|e-?mails?|letters?|tweets?|ad copy|copy|paragraphs?|articles?|essays?|stor(y|ies)|poems?|lyrics|jokes?|quiz(zes)?|sql|quer(y|ies)|code|scripts?|programs?|translations?|subtitles?|digests?|abstracts?|alt[- ]text|images?|pictures?|photos?|photographs?|illustrations?|artwork|drawings?|logos?|icons?|avatars?|portraits?|videos?|animations?|music|melod(y|ies)|songs?|voices?)\b",
            Unsupported("generation"),
            3.0,
        ),
        // Answering people's questions (a help bot, an assistant over documents) is question
        // answering, whoever asks: "answers employees' questions", "responds to staff queries".
        // Only as an ask ("a bot that answers", "answer our ..."): "humans are good at answering
        // questions" and "our chatbot answers questions" describe the context.
        c(
            r"(^|[.!?:;,\n]\s*|\b(to|please|can|could|would|should|will|must|that|which|who|and|then|automatically|it|i|we)\s+)((answer|answers)\s+(the\s+|our\s+|their\s+|any\s+|all\s+)?([\w'-]+\s+){0,2}?(questions?|quer(y|ies)|faqs?|inquir(y|ies)|enquir(y|ies))|(respond|responds|reply|replies)\s+to\s+(the\s+|our\s+|their\s+|any\s+|all\s+)?([\w'-]+\s+){0,2}?questions?)\b|\b(bot|assistant|agent|copilot)\s+(that|which|to)\s+(answer|respond|repl|help)\w*",
            Unsupported("question_answering"),
            3.0,
        ),
        // Sounds named by their source: a podcast, a voice note, a cough, a phone call, a
        // sentence read aloud are recordings of sound.
        c(
            r"\b(podcasts?|radio (shows?|broadcasts?|programs?)|voicemails?|voice (notes?|messages?|memos?|recordings?|clips?)|cough(s|ing)?|snor(e|es|ing)|sneez\w*|crying|barking|gunshots?|sirens?|phone calls?|call (recordings?|audio)|audiobooks?|dictations?|wake[- ]?words?|hot[- ]?words?|bird ?calls?|heart sounds?|lung sounds?|pronunciation|read(s|ing)? (it |them |a [\w-]+ )?(aloud|out loud))\b",
            Modality(crate::event::Modality::Audio),
            2.0,
        ),
        // Speech turned into text, and who speaks when, are tasks on recordings.
        c(
            r"\btranscri(be|bes|bing|ption)\b[^.;\n]{0,60}?\b(recordings?|calls?|audio|speech|interviews?|meetings?|voice\w*|podcasts?|episodes?|lectures?|dictations?|conversations?|videos?|voicemails?)\b|\bwho (is )?(speaking|talking|speaks|talks)\b|\bdiari[sz]ation\b",
            Unsupported("speech_recognition"),
            3.0,
        ),
        c(
            r"\btranscri(be|bes|bing|ption)\b[^.;\n]{0,60}?\b(recordings?|calls?|audio|speech|interviews?|meetings?|voice\w*|podcasts?|episodes?|lectures?|dictations?|voicemails?)\b|\bwho (is )?(speaking|talking|speaks|talks)\b|\bdiari[sz]ation\b",
            Modality(crate::event::Modality::Audio),
            2.0,
        ),
        // A yes/no asked of the future or of a case: "predict if a trial converts", "tell me
        // whether ...", "which members are about to cancel" ("hard to tell whether" is not an
        // ask).
        c(
            r"\b(predict\w*|forecast\w*|know|determin\w*|check\w*|decid\w*|guess\w*|find out|estimat\w*|flag\w*)\s+(if|whether)\b|\b(tell|let)\s+(me|us|them|the [\w-]+)\s+(know\s+)?(if|whether)\b|\bwhich\s+([\w-]+\s+){1,2}?(will|would|are going to|are about to|are likely to|is likely to|is going to|is about to)\b",
            Classification,
            2.5,
        ),
        // A statistic of a quantity ("the average daily rate", "expected power", "the total
        // spend") is a number.
        c(
            r"\b(predict\w*|estimat\w*|forecast\w*|want|need|get|give|compute|calculate|model)\b[^.;\n]{0,30}?\b(average|mean|median|total|expected|typical|fair|annual|lifetime|cumulative)\s+[a-z][\w-]*",
            Regression,
            2.0,
        ),
        // A target named like a column whose last part is a quantity ("predict sold_price",
        // "estimate delivery_minutes").
        c(
            r"\b(predict\w*|estimat\w*|forecast\w*|target\w*)\s*:?\s+(the\s+)?`?[a-z0-9]+_([a-z0-9]+_)*(price|cost|amount|count|value|sales|revenue|time|minutes|mins|hours|days|duration|age|weight|score|rate|total|qty|quantity|kg|km|usd|eur|pct|percent|mw|kw|kwh|volume|level|size|length|height|income|spend|units)\b",
            Regression,
            2.5,
        ),
        // An aggregate over a period ("average daily rate", "total monthly spend") is one
        // number per row, not a series: it takes back what the period word gave.
        c(
            r"\b(average|mean|median|max(imum)?|min(imum)?|total|avg)\s+(daily|weekly|monthly|hourly|yearly)\b",
            Modality(crate::event::Modality::TimeSeries),
            -0.6,
        ),
        // Readings at a fixed step ("readings every 30 min", "half-hourly") are a series.
        c(
            r"\b(half|quarter)[- ]hour(ly|s)?\b|\b(readings?|measurements?|samples?|values?|observations?|data ?points?|snapshots?)\s+(every|each|per)\s+(\d+\s*)?(ms|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|days?)\b",
            Modality(crate::event::Modality::TimeSeries),
            2.0,
        ),
        // How much to make or order for the coming periods is a forecast of demand.
        c(
            r"\bhow (many|much)\b[^.?;\n]{0,60}?\b(should|must|to|do)\s+([\w'-]+\s+){0,2}?(bake|make|order|stock|produce|prepare|buy|cook|staff|reorder|restock|schedule)\b",
            Modality(crate::event::Modality::TimeSeries),
            1.8,
        ),
        // Kinds of writing the earlier lists lack: clauses, speeches, manuals, patents, CVs.
        c(
            r"\b(clauses?|contracts|memos?|speeches|lyrics|poems?|subtitles?|chat ?logs?|chats|manuals?|handbooks?|leaflets?|brochures?|pdfs?|judg(e)?ments|rulings|patents?|resumes|cvs|cover letters?|press releases?|blog posts?|forum posts?|(clinical|medical|doctors'?|case|meeting|field|nursing) notes)\b",
            Modality(crate::event::Modality::Text),
            0.9,
        ),
        // Maximising or minimising a business quantity is choosing a plan.
        c(
            r"\b(maximi[sz]\w*|minimi[sz]\w*)\s+(the\s+|our\s+|total\s+)*(margin|margins|profits?|revenue|costs?|overtime|waste|emissions|fuel( use)?|travel time|idle time|downtime|empty (miles|km)|delays?)\b",
            Unsupported("optimisation"),
            2.5,
        ),
        // --- round 6: what the output IS, by its shape, and data named in other words
        // A mask is a picture of the same size as the input, one class per pixel: asked for
        // ("a pixel mask of vine rows vs. soil", "which pixels belong to the road") it is
        // segmentation.
        c(
            r"\b(pixel|binary|segmentation|per-pixel|label)\s+masks?\b|\bmasks?\s+(of|for|showing|separating|marking|around|over)\b|\bwhich pixels\b|\b(for|of) (each|every) pixel\b|\b(trace|draw|outline)s?\s+(the\s+)?(exact\s+)?(outlines?|contours?|boundar(y|ies)|borders?|shapes?)\s+of\b",
            Unsupported("image_segmentation"),
            3.0,
        ),
        // A piece of writing measured in lines, sentences or words ("a five-line digest", "in
        // two sentences") is written by the model: generation.
        c(
            r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|a few)[- ](line|sentence|word|paragraph|page|bullet|point)s?\s+([\w-]+\s+)?(digests?|summar(y|ies)|abstracts?|overviews?|descriptions?|briefs?|synops[ei]s|recaps?|versions?|notes?|repl(y|ies)|answers?|texts?|explanations?)\b|\b(in|into|to)\s+(\d+|one|two|three|four|five|a few)\s+(sentences|lines|bullet points|bullets|words|paragraphs)\b",
            Unsupported("generation"),
            3.0,
        ),
        // An artefact handed back by the model ("give them a digest", "output the cleaned
        // image", "takes a sketch and produces a realistic photo"): the verbs of handing over
        // name what is made when their object is a piece of writing or a picture, and the
        // object closes the phrase (not "returns the label of each image").
        c(
            r"\b(give|gives|giving|provide|provides|return|returns|output|outputs|produces|deliver|delivers|hand back|give back|gives back|spit out)\s+(me\s+|us\s+|them\s+|him\s+|her\s+|back\s+)?((a|an|the|one|new|some|clean|cleaned|restored|realistic|fixed|corrected|edited|short)\s+)*([\w'-]+\s+){0,2}?(digests?|summar(y|ies)|abstracts?|synops[ei]s|captions?|translations?|paraphrases?|rewrites?|drafts?|essays?|stor(y|ies)|poems?|images?|pictures?|photos?|photographs?|renderings?|illustrations?|drawings?)(\s*[.,;:!?)]|\s+(of|for|from|with|that|which|so|and|in)\b|\s*$)",
            Unsupported("generation"),
            3.0,
        ),
        // Mentions found in a text ("drug names mentioned in clinical notes", "spans for DRUG
        // and DOSE", "every medication mention") are tagged token by token.
        c(
            r"\b(mentioned|occurring|appearing|named)\s+in\s+(the\s+|our\s+|each\s+|their\s+)?([\w-]+\s+){0,2}?(notes?|texts?|documents?|articles?|reports?|letters?|e-?mails?|messages?|reviews?|tweets?|posts?|records|sentences?|transcripts?|contracts?|papers?|abstracts?)\b|\b(annotated|labell?ed|tagged|marked)\b[^.;\n]{0,40}\bspans?\b|\bspans?\s+(for|of)\s+[A-Za-z]|\b(each|every|all)\s+([\w-]+\s+){0,2}?mentions?\b|\bmentions?\s+of\s+([\w-]+\s+){0,2}?(drugs?|medications?|people|persons?|names?|companies|places?|locations?|products?|dates?|organi[sz]ations?|diseases?|symptoms?|genes?|brands?)\b",
            Unsupported("token_classification"),
            3.0,
        ),
        // An alert when something unusual happens, abnormal periods flagged: anomalies.
        c(
            r"\b(alert|alarm|warn|notify|ping|flag|page)\w*\s+(me\s+|us\s+|the [\w-]+\s+)?(when|whenever|if|as soon as)\b[^.;\n]{0,50}?\b(unusual|abnormal|strange|odd|weird|unexpected|anomal\w*|out of the ordinary|wrong)\b|\b(unusual|abnormal|unexpected|anomalous)\s+(seconds|minutes|hours|days|weeks|periods|intervals|spikes|patterns|behaviou?r|activity|traffic|usage|load|readings)\b|\bsomething (unusual|abnormal|strange|odd|weird|unexpected) (happens|occurs|is going on)\b",
            Unsupported("anomaly_detection"),
            3.0,
        ),
        // Writing in a picture given back as text ("the handwritten name out as text",
        // "digitise the scanned forms") is OCR.
        c(
            r"\b(handwrit\w*|scanned|scans?|photographed|printed)\b[^.;\n]{0,80}?\b(out\s+)?(as|into|to)\s+(plain\s+|machine[- ]readable\s+|editable\s+|digital\s+|searchable\s+)?text\b|\bdigiti[sz]\w*\s+(the\s+|our\s+)?([\w-]+\s+){0,2}?(handwrit\w*|scanned|paper|printed)",
            Unsupported("ocr"),
            3.0,
        ),
        // Putting items in order of relevance or fit ("rank the articles by relevance",
        // "from most to least suitable") is ranking, not a label per item.
        c(
            r"\b(rank|ranks|ranking|order|sort|sorts|sorting|list)\b[^.;\n]{0,60}?\bby\s+(their\s+|its\s+)?(relevan\w*|suitability|fit|match|how (relevant|well|likely|good))\b|\bfrom\s+(the\s+)?(most|best)\s+([\w-]+\s+)?to\s+(the\s+)?(least|worst)\b|\bmost relevant (first|on top|at the top)\b",
            Unsupported("ranking"),
            3.0,
        ),
        // Named fields pulled out with the source named before the verb ("From supplier
        // invoices, pull out the vendor name, invoice number and due date").
        c(
            r"\b(extract|extracts|extracting|pull|pulls|pulling|capture|capturing|scrape|scraping|lift|parse|parsing)\s+(out\s+)?(the\s+|all\s+)?[\w-]+(\s[\w-]+){0,2},\s+[\w-]+(\s[\w-]+){0,2}(,\s+[\w-]+(\s[\w-]+){0,2})*,?\s+(and|&)\s+[\w-]+",
            Unsupported("information_extraction"),
            3.0,
        ),
        // The target given with its classes after a colon ("Predict the outcome of a call:
        // resolved, escalated or callback_needed").
        c(
            r"\b(predict|classify|determine|tell|label|forecast|estimate|decide|guess)\w*\b[^.;:\n]{0,60}?:\s*[\w-]+(\s[\w-]+)?(,\s*[\w-]+(\s[\w-]+)?)*,?\s+(or|/)\s+[\w-]+\s*([.;\n]|$)",
            Classification,
            2.5,
        ),
        // A unit as the head of the predicted thing ("flight delay minutes from schedule
        // data") or in brackets after it ("the CO2 emissions (g/km)") makes it a quantity.
        c(
            r"\b[a-z][\w-]*\s+(minutes|hours|seconds|days|kilograms|kg|grams|tonnes|litres|liters|metres|meters|km|miles|euros|dollars|kwh|mwh|mw|kw)\s+(from|given|using|based on|for each|per)\b|\b(predict|estimat|forecast|model|target)\w*\b[^.;:\n]{0,50}?\(\s?(g|kg|mg|t|km|m|cm|mm|l|ml|kwh|mwh|mw|kw|w|mpa|kpa|pa|bar|usd|eur|gbp|\$|€|£|%|h|min|s|ms|days|hours|years|t/ha)(\s?/\s?[a-z0-9²³]+)?\s?\)",
            Regression,
            2.5,
        ),
        // Values per period laid out period by period ("month by month"), or a periodic
        // measure over a span of years ("monthly passengers 2010-2024"), are a series.
        c(
            r"\b(minute|hour|day|week|month|quarter|year) by (minute|hour|day|week|month|quarter|year)\b|\b(daily|weekly|monthly|hourly|quarterly)\b[^.;\n]{0,60}?\b(since (19|20)\d\d|(19|20)\d\d\s?(-|–|to|until|through)\s?((jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s)?(19|20)\d\d)\b",
            Modality(crate::event::Modality::TimeSeries),
            2.0,
        ),
        // A count or value reported period after period ("the number of cases reported each
        // week") is a series.
        c(
            r"\b(reported|recorded|measured|observed|logged|sold|counted|collected|published)\s+(each|every)\s+(hour|day|week|month|quarter)\b",
            Modality(crate::event::Modality::TimeSeries),
            2.0,
        ),
        // A horizon ahead ("12 hours ahead", "day-ahead") is a forecast of a series.
        c(
            r"\b(\d+|one|two|three|six|twelve|24|48)\s*(minutes?|hours?|h|days?|weeks?|months?|steps?)\s+ahead\b|\b(hour|day|week|month)[- ]ahead\b",
            Modality(crate::event::Modality::TimeSeries),
            2.0,
        ),
        // A document scanned, photographed or faxed is a picture of the page.
        c(
            r"\b(scanned|photographed|faxed|photocopied)\s+([\w-]+\s+)?(documents?|pages?|forms?|letters?|receipts?|invoices?|notes?|cards?|certificates?|records|books?|manuscripts?)\b",
            Modality(crate::event::Modality::Image),
            2.5,
        ),
        // Pictures or sounds already turned into text ("we already OCR them to plain text")
        // are read as text.
        c(
            r"\b(already|have been|has been|were|was|are|is)\s+([\w-]+\s+)?(ocr\w*|transcrib\w*|convert\w*|extract\w*|turn\w*)\s+((them|it|these|those)\s+)?(in)?to\s+(plain\s+|raw\s+|machine[- ]readable\s+)?text\b",
            Modality(crate::event::Modality::Text),
            3.0,
        ),
        // Counts per unit of time ("clicks per minute per campaign") are readings of a clock.
        c(
            r"\b(clicks|calls|visits|visitors|requests|events|packets|orders|transactions|arrivals|trips|views|impressions|sessions|logins|errors|messages|vehicles|cars|passengers|bookings)\s+(per|each|every|a|an)\s+(\d+[- ]?)?(second|minute|min|hour|day|5 min|15 min)\b",
            Modality(crate::event::Modality::TimeSeries),
            2.0,
        ),
        // A folder with a subfolder per class, or a picture taken with a phone or camera, is a
        // set of pictures.
        c(
            r"\b(folders?|directory|directories|dirs?)\s+(with|containing|of|holding)\s+(one\s+)?sub-?(folders?|directories|dirs?)\b|\bsub-?(folders?|directories)\s+(named|called|per|for each|by)\b|\bone (sub-?)?(folder|directory) per (class|label|category|breed|species|type|kind)\b|\b(shot|taken|captured|snapped|photographed)\s+([\w-]+\s+){0,4}?(with|on|by|using)\s+(a|an|the|my|our|their|his|her)\s+(phone|smartphone|mobile|camera|iphone|dslr|drone|webcam)s?\b",
            Modality(crate::event::Modality::Image),
            2.5,
        ),
        // Only metadata of the pictures, songs or videos: the rows of a table.
        c(
            r"\b(only|just)\s+(have|got|use|keep|store|know)\s+(the\s+|their\s+|its\s+|some\s+)?(meta-?data|attributes|tabular data|a table|statistics|numbers)\b",
            Modality(crate::event::Modality::Tabular),
            3.0,
        ),
        // The writer names the one part of the data that matters ("we only care about the
        // listing text").
        c(
            r"\b(only|just)\s+(care about|use|need|want|look at|interested in|work with|about)\s+(the\s+)?([\w-]+\s+){0,2}?(text|texts|wording|words|descriptions?)\b",
            Modality(crate::event::Modality::Text),
            5.0,
        ),
        c(
            r"\b(only|just)\s+(care about|use|need|want|look at|interested in|work with|about)\s+(the\s+)?([\w-]+\s+){0,2}?(images?|photos?|pictures?)\b",
            Modality(crate::event::Modality::Image),
            5.0,
        ),
        // The words of a speech or a call ("speech text", "call transcripts") are text.
        c(
            r"\b(speech|speeches|call|calls|voice|audio|video|podcast|interview|meeting)\s+(texts?|transcripts?|transcriptions?|wording|content of)\b|\b(political|parliament\w*|campaign|inaugural|presidential|senate|congressional)\s+speeches\b",
            Modality(crate::event::Modality::Text),
            3.0,
        ),
        // Rulings of courts are texts.
        c(
            r"\b(court|legal|judicial|tribunal|supreme court)\s+(decisions?|rulings?|opinions?|filings?|judg(e)?ments?|cases)\b|\bjudg(e)?ment\b",
            Modality(crate::event::Modality::Text),
            1.5,
        ),
        // Requests in Spanish, Portuguese, French, German and Italian: the task verbs, kinds of
        // writing, pictures and answers of the lists above in those languages.
        c(
            r"\b(clasific\w*|classifica(r|re|ção|ções|zione|zioni|dos|das)|classer|klassifizier\w*|klassifikation|categoriza(r|ción|ção)|etiqueta(s|r|do|dos|da|das)?|étiquet\w*|kategorisier\w*|einordnen|einteilen)\b|\b(sí|si|oui|ja|sim)\s?/\s?(no|non|nein|não|nao)\b|\b(positiv(o|a|os|as)|positifs?|positives?)\b[^.;\n]{0,30}\b(negativ(o|a|os|as)|négati(f|fs|ve|ves))\b",
            Classification,
            2.0,
        ),
        c(
            r"\b(reseñas?|opiniones|comentarios?|avalia[çc](ão|ões)|coment[áa]rios|avis|commentaires?|critiques|bewertungen|rezensionen|kommentare|recensioni|commenti|textos?|textes?|texte|testi|correos?|mensajes?|mensagens|nachrichten|noticias|notícias|artículos|artigos|articles de presse|nouvelles|tuits)\b|\b(español|castellano|portugués|português)\b",
            Modality(crate::event::Modality::Text),
            2.0,
        ),
        c(
            r"\b(imágenes|imagenes|imagens|fotos|fotografías|bilder|immagini|radiografías|radiographies)\b",
            Modality(crate::event::Modality::Image),
            2.0,
        ),
        c(
            r"\b(predecir|pronosticar|estimar|prever|prédire|estimer|vorhersagen|schätzen|prevedere|stimare)\b[^.;\n]{0,40}?\b(precio|precios|preço|preços|prix|preis|preise|prezzo|prezzi|cantidad|quantidade|quantité|menge|importe|valor|valeur|wert|ventas|vendas|ventes|umsatz|demanda|demande|nachfrage|duración|durée|dauer|edad|idade|âge|alter)\b",
            Regression,
            2.5,
        ),
    ]
});

/// The unit the model labels or scores, named as the object of the task verb or as "each
/// ...": a piece of writing ("classify customer e-mails", "assign each excerpt a score") is
/// read as text, a picture as an image. Not counted where the task's input is a list of
/// attributes ("the value of each photograph from its caption, studio and year"): the unit is
/// then a row.
static UNIT_CUES: LazyLock<Vec<Cue>> = LazyLock::new(|| {
    use Claim::*;
    let c = |p: &str, claim: Claim, weight: f64| Cue {
        re: Regex::new(p).expect("static regex"),
        claim,
        weight,
    };
    vec![
        c(
            r"\b((classif|categori[sz]|label|tag|sort|rout|scor|rat|grad|assign|flag|triag)\w*\s+(each|every|all|the|our|their|incoming|new|these)?\s*|(each|every|per)\s+)([\w'-]+\s+){0,2}?(reviews?|excerpts?|essays?|tweets?|comments?|e-?mails?|mails|documents?|articles?|sentences?|messages?|posts?|tickets?|passages?|paragraphs?|headlines?|abstracts?|complaints?|letters?|transcripts?|utterances?|queries|questions?|answers?|captions?|stories|poems?|notes?)\b",
            Modality(crate::event::Modality::Text),
            1.5,
        ),
        c(
            r"\b((classif|categori[sz]|label|tag|sort|scor|rat|grad|assign|flag|triag)\w*\s+(each|every|all|the|our|their|incoming|new|these)?\s*|(each|every|per)\s+)([\w'-]+\s+){0,2}?(images?|photos?|photographs?|pictures?|scans?|x-?rays?|radiographs?|slides?|frames?|snapshots? from the camera)\b",
            Modality(crate::event::Modality::Image),
            1.5,
        ),
    ]
});

static NEGATED_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[^.;:\n]{0,16}\b(are|is|were|was) not (included|provided|available|given|used|part)",
    )
    .expect("static regex")
});

/// A word that opens a negated phrase.
static NEGATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(no|not|without|never|nor|neither|isn't|aren't|wasn't|weren't|don't|doesn't|didn't|instead of|rather than)\b")
        .expect("static regex")
});

/// Where a negated phrase ends: the end of its clause (punctuation, a dash, a bracket) or a
/// word that turns to what is meant ("not a regression, I need classes"; "not X but Y").
static CLAUSE_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[.;:!?,\n()—–]|\s-\s|\b(but|instead|rather|however|though|although|whereas|just|only)\b|\s(in|on|from) (our|my|your|their|this|these|each|every)\b",
    )
    .expect("static regex")
});

/// The longest a negated phrase runs, in bytes, when no clause end comes first.
const NEGATION_REACH: usize = 60;

/// The byte ranges of `text` that are negated: from a negating word to the end of its clause.
/// "or not" (a yes/no question) and "not only" negate nothing.
pub(super) fn negated_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for m in NEGATOR.find_iter(text) {
        let before = text[..m.start()].trim_end();
        let after = &text[m.end()..];
        if (m.as_str() == "not" && before.ends_with(" or"))
            || after.trim_start().starts_with("only")
        {
            continue;
        }
        let mut end = (m.end() + NEGATION_REACH).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let end = CLAUSE_END
            .find(&text[m.end()..end])
            .map(|c| m.end() + c.start())
            .unwrap_or(end);
        out.push((m.start(), end));
    }
    out
}

/// `text` with its negated phrases blanked out.
pub(super) fn without_negated(text: &str) -> String {
    blank(text, &negated_spans(text))
}

/// `text` with its negated phrases, what was turned into a table (up to the conversion
/// verb, see [`converted_spans`]) and translations that are the data (see
/// [`translation_data_spans`]) blanked out, for the word cues.
pub(super) fn plain_words(text: &str) -> String {
    let mut spans = negated_spans(text);
    spans.extend(translation_data_spans(text));
    spans.extend(
        converted_spans(text)
            .into_iter()
            .filter_map(|(a, _)| CONVERSION.find_at(text, a).map(|m| (a, m.start()))),
    );
    blank(text, &spans)
}

/// `text` with the characters in `spans` replaced by spaces.
fn blank(text: &str, spans: &[(usize, usize)]) -> String {
    text.char_indices()
        .map(|(i, ch)| {
            if spans.iter().any(|(a, b)| i >= *a && i < *b) {
                ' '
            } else {
                ch
            }
        })
        .collect()
}

/// Data turned into rows and columns: "the scans were converted into CSV rows".
const CONVERSION_PATTERN: &str = r"\b(turned|converted|transformed|extracted|exported|digiti[sz]ed|parsed|flattened|tabulated|aggregated|encoded)\b[^.;:\n]{0,40}?\b(into|to|as)\s+(a |an |one |plain )?(csv|rows?|columns?|tables?|tabular|spreadsheets?|feature vectors?)\b";

static CONVERSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(CONVERSION_PATTERN).expect("static regex"));

/// The byte ranges of `text` that name what was turned into a table: from the start of the
/// sentence to the conversion ("Invoice images (.jpg) were converted into CSV rows"). The
/// model reads the rows, so image, audio and text words there are provenance, not input.
pub(super) fn converted_spans(text: &str) -> Vec<(usize, usize)> {
    CONVERSION
        .find_iter(text)
        .map(|m| {
            let start = text[..m.start()]
                .rfind(['.', '!', '?', ';', '\n'])
                .map(|i| i + 1)
                .unwrap_or(0);
            (start, m.end())
        })
        .collect()
}

/// A head noun that makes the word before it a mere modifier: "photo metadata", "image ids",
/// "audio duration" name facts about the data, kept in a table, not the data itself.
static META_HEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+(metadata|meta-data|ids?|identifiers?|names?|file ?names?|urls?|links?|paths?|counts?|dimensions|sizes?|resolutions?|durations?|lengths?|timestamps?|tags|captions? length|statistics|stats)\b")
        .expect("static regex")
});

/// A count of things ("number of photos", "count of reviews") is a number in a table.
static COUNT_OF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(number|count|counts|total|amount) of\s+$").expect("static regex")
});

/// Whether the modality word at `start..end` of `text` only modifies another head noun
/// ("photo metadata") or is counted ("number of photos").
pub(super) fn is_modifier(text: &str, start: usize, end: usize) -> bool {
    META_HEAD.is_match(&text[end..]) || COUNT_OF.is_match(&text[..start])
}

/// A task verb followed, in the same clause, by "from" and the input it reads: "estimate the
/// age from a face photo". The phrase after "from" names the data the model reads.
static INPUT_PHRASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(predict\w*|estimat\w*|classif\w*|categori[sz]\w*|forecast\w*|detect\w*|determin\w*|infer\w*|tell|decide|recogni[sz]\w*|identif\w*|score|grade|rate|label)\b([^.;:\n]{0,80}?)\bfrom\s+([^.;:\n]{1,120})")
        .expect("static regex")
});

/// Words just before "from" that make it provenance, not the model's input ("features
/// extracted from images").
static PROVENANCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(extracted|computed|derived|calculated|measured|taken|collected|obtained|scraped|downloaded|sampled|generated)\s*$")
        .expect("static regex")
});

/// A sentence that states the task: it holds a task verb ("predict", "classify", "forecast").
static TASK_SENTENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(predict\w*|estimat\w*|classif\w*|categori[sz]e\w*|forecast\w*|determin(e|es|ing)|infer|decide|recogni[sz]e|identify|detect|tell apart|flag|goal is|task is|asked to|aim is)\b")
        .expect("static regex")
});

/// Words that turn from the task to its purpose ("... so that risky applications get a second
/// review").
static PURPOSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(so that|so the|so we|so our|so it|in order to|which will|to help|to allow|to let|to support)\b")
        .expect("static regex")
});

/// The byte ranges of the sentences of `text` that state the task (see [`TASK_SENTENCE`]).
pub(super) fn task_sentences(text: &str) -> Vec<(usize, usize)> {
    // A negated task verb ("no need for a prediction model") states no task.
    let plain = blank_bytes(text, &negated_spans(text));
    let mut out = Vec::new();
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        let end = i + ch.len_utf8();
        let boundary = matches!(ch, '.' | '!' | '?' | ';')
            || (ch == '\n' && line_ends_sentence(text, start, i));
        if boundary || end == text.len() {
            let found = TASK_SENTENCE
                .find(&plain[start..end])
                .or_else(|| IMPERATIVE.find(&plain[start..end]));
            if let Some(v) = found {
                // What follows "so that", "in order to" is what the answer is for, not the
                // task: it ends the task clause.
                let stop = PURPOSE
                    .find(&text[start + v.end()..end])
                    .map(|p| start + v.end() + p.start())
                    .unwrap_or(end);
                out.push((start, stop));
            }
            start = end;
        }
    }
    out
}

/// Whether the line break at byte `i` ends a sentence: a hard-wrapped paragraph runs on
/// across its line breaks, but a short line (a label line, a list item), a blank line or a
/// list item after it ends one. `start` is where the current sentence began.
fn line_ends_sentence(text: &str, start: usize, i: usize) -> bool {
    let line_start = text[..i].rfind('\n').map(|p| p + 1).unwrap_or(0).max(start);
    let line = &text[line_start..i];
    let next = text[i + 1..].trim_start_matches([' ', '\t']);
    line.trim().chars().count() < 60
        || next.is_empty()
        || next.starts_with(['\n', '-', '*', '•', '#', '|', '>'])
        || next.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// A sentence that opens with a command to plan or to make something ("Optimise the price of
/// ...", "Generate a caption ...") states the task too. Generic verbs ("find", "build") are
/// left out: "Find and blur the plates" is stated by the sentence that says what is wanted.
static IMPERATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(please\s+)?(optimi[sz]e|maximi[sz]e|minimi[sz]e|generate|write|draft|translate|summari[sz]e|transcribe|colou?ri[sz]e)\b")
        .expect("static regex")
});

/// `text` with the bytes in `spans` replaced by spaces, byte offsets kept (a multi-byte
/// character becomes as many spaces as it had bytes).
pub(super) fn blank_bytes(text: &str, spans: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, ch) in text.char_indices() {
        if spans.iter().any(|(a, b)| i >= *a && i < *b) {
            out.extend(std::iter::repeat_n(' ', ch.len_utf8()));
        } else {
            out.push(ch);
        }
    }
    out
}

/// How much more evidence counts when it stands in a sentence that states the task.
pub(super) const TASK_SENTENCE_WEIGHT: f64 = 1.4;

/// An input phrase that is itself derived from other data ("from features extracted from
/// photos"): the model reads the derived values, so the phrase says nothing of their source.
static DERIVED_FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(extracted|computed|derived|calculated|measured|obtained) from\b")
        .expect("static regex")
});

/// How much evidence for a task kind automl cannot train counts when it stands outside the
/// sentence that states the task (in a section that has one): it is context ("our chatbot
/// answers questions. Classify each conversation ...").
pub(super) const CONTEXT_UNSUPPORTED_WEIGHT: f64 = 0.65;

/// How much more a modality cue counts in the input phrase of the task clause.
const INPUT_PHRASE_WEIGHT: f64 = 1.0;

/// What the input phrase of a task clause names.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Input {
    /// An enumeration of attributes ("from its title, seniority, company size and location"):
    /// columns of a table, whatever the attributes are called.
    Attributes,
    /// A phrase naming the data ("from a face photo"), negated words left out.
    Phrase(String),
}

/// Where the head of an input phrase ends: a preposition or a clause that describes it.
static INPUT_HEAD_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\s(of|on|at|lying|standing|sitting|that|which|where|while|when|taken|shot|placed|put)\s",
    )
    .expect("static regex")
});

/// The input phrases of `text` (see [`INPUT_PHRASE`]).
pub(super) fn input_phrases(text: &str) -> Vec<Input> {
    INPUT_PHRASE
        .captures_iter(text)
        .filter(|c| !PROVENANCE.is_match(&c[2]) && !DERIVED_FROM.is_match(&c[3]))
        .map(|c| {
            let phrase = &c[3];
            let items = phrase
                .split(',')
                .flat_map(|p| p.split(" and "))
                .filter(|p| !p.trim().is_empty())
                .count();
            if items >= 3 {
                Input::Attributes
            } else {
                let first = phrase.split(',').next().unwrap_or(phrase);
                // The input is the phrase's head: what follows a preposition or a clause
                // ("a photo of it lying on a table") describes it.
                let head = INPUT_HEAD_END
                    .find(first)
                    .map(|m| &first[..m.start()])
                    .unwrap_or(first);
                Input::Phrase(without_negated(head))
            }
        })
        .collect()
}

/// The byte spans of the input phrases of `text` that enumerate three or more attributes
/// ("from engine size, cylinders, fuel type and vehicle class"): they name what the model
/// reads, so words of classes or quantities in them ("vehicle class") say nothing of what it
/// outputs.
pub(super) fn attribute_spans(text: &str) -> Vec<(usize, usize)> {
    INPUT_PHRASE
        .captures_iter(text)
        .filter(|c| !PROVENANCE.is_match(&c[2]) && !DERIVED_FROM.is_match(&c[3]))
        .filter_map(|c| {
            let m = c.get(3)?;
            let items = m
                .as_str()
                .split(',')
                .flat_map(|p| p.split(" and "))
                .filter(|p| !p.trim().is_empty())
                .count();
            (items >= 3).then_some((m.start(), m.end()))
        })
        .collect()
}

/// Whether objective evidence at byte `at` lies in one of the attribute lists `attributes`
/// (see [`attribute_spans`]): it then names an input, not the output.
fn names_an_input(claim: Claim, at: usize, attributes: &[(usize, usize)]) -> bool {
    matches!(claim, Claim::Classification | Claim::Regression)
        && attributes.iter().any(|(a, b)| at >= *a && at < *b)
}

/// How much an enumeration of attributes as the task's input counts for a table.
const ATTRIBUTES_INPUT_WEIGHT: f64 = 2.0;

/// The weighed evidence of one request.
#[derive(Debug, Clone)]
pub(super) struct Evidence {
    /// Weighed score per modality (tabular, image, text, audio, time series).
    pub modality: [(Modality, f64); 5],
    /// Weighed score for classification.
    pub classification: f64,
    /// Weighed score for regression.
    pub regression: f64,
    /// Weighed score per unsupported task type, highest first.
    pub unsupported: Vec<(&'static str, f64)>,
    /// Modalities the request says are absent ("the images are not included").
    pub absent: Vec<Modality>,
}

/// Words before "translation" that make it the thing judged ("the quality of machine
/// translation output"), not the task.
static JUDGED_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(quality|scores?|scoring|adequacy|fluency|ratings?|assess\w*|judg\w*|evaluat\w*|estimat\w*) of (the |their |its |machine |neural |automatic |human |reference |these )*$")
        .expect("static regex")
});

/// Words after a translation that make it how the data was made ("a translation of the STS
/// dataset", "translation has been done with deepl.com", "translated from English").
static PROVENANCE_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s+(of the\b|of an?\b|has been|have been|was|were|done|made|produced|quality|output|from|into|by|with|using)\b")
        .expect("static regex")
});

/// Words before "translations" that make them what the model writes ("produce English
/// translations of the menus"): the plural noun otherwise names texts at hand.
static MADE_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(produc\w*|generat\w*|writ\w*|outputs?|returns?|gives?|provides?|creat\w*|makes?|deliver\w*|suggest\w*|predict\w*)\s+([\w-]+\s+){0,3}$")
        .expect("static regex")
});

static TRANSLATION_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\btranslat\w*").expect("static regex"));

/// The byte ranges of the translation words of `text` that name the data rather than the
/// task: a corpus made by translating ("a translation of the STS dataset", "translated from
/// English", "translation has been done with deepl.com", "multilingual translations" of a
/// benchmark, unless something is to produce them) or translations whose quality is the
/// target ("the quality of machine translation output"). Translating is the task only when it
/// is what the model is asked to do.
pub(super) fn translation_data_spans(text: &str) -> Vec<(usize, usize)> {
    TRANSLATION_WORD
        .find_iter(text)
        .filter(|m| {
            let word = m.as_str();
            word.starts_with("translated")
                || (word == "translations" && !MADE_BEFORE.is_match(&text[..m.start()]))
                || JUDGED_BEFORE.is_match(&text[..m.start()])
                || (word == "translation" && PROVENANCE_AFTER.is_match(&text[m.end()..]))
        })
        .map(|m| (m.start(), m.end()))
        .collect()
}

/// Diminishing returns: the first match counts fully, the next ones less, at most 3 in all.
fn repeat_factor(n: usize) -> f64 {
    match n {
        0 => 0.0,
        1 => 1.0,
        2 => 1.5,
        3 => 1.9,
        _ => 2.2,
    }
}

/// Weighs the evidence of `sections`.
pub(super) fn weigh(sections: &[Section]) -> Evidence {
    let mut ev = Evidence {
        modality: [
            (Modality::Tabular, 0.0),
            (Modality::Image, 0.0),
            (Modality::Text, 0.0),
            (Modality::Audio, 0.0),
            (Modality::TimeSeries, 0.0),
        ],
        classification: 0.0,
        regression: 0.0,
        unsupported: Vec::new(),
        absent: Vec::new(),
    };
    let mut unsup: Vec<(&'static str, f64)> = Vec::new();
    for s in sections {
        let (wm, wo) = s.role.weights();
        let negated = negated_spans(&s.text);
        let task = task_sentences(&s.text);
        let converted = converted_spans(&s.text);
        let attributes = attribute_spans(&s.text);
        let translated = translation_data_spans(&s.text);
        // The input phrase of the task clause says what the model reads: its modality cues
        // count once more.
        for input in input_phrases(&s.text) {
            let phrase = match input {
                Input::Attributes => {
                    if let Some(e) = ev
                        .modality
                        .iter_mut()
                        .find(|(m, _)| *m == Modality::Tabular)
                    {
                        e.1 += ATTRIBUTES_INPUT_WEIGHT * wm;
                    }
                    continue;
                }
                Input::Phrase(p) => p,
            };
            for cue in CUES.iter() {
                if let Claim::Modality(m) = cue.claim {
                    if cue.re.is_match(&phrase) {
                        if let Some(e) = ev.modality.iter_mut().find(|(mm, _)| *mm == m) {
                            e.1 += cue.weight * INPUT_PHRASE_WEIGHT * wm;
                        }
                    }
                }
            }
        }
        let units: &[Cue] = if attributes.is_empty() {
            &UNIT_CUES
        } else {
            &[]
        };
        for cue in CUES.iter().chain(units) {
            let found: Vec<_> = cue
                .re
                .find_iter(&s.text)
                .filter(|m| {
                    !negated
                        .iter()
                        .any(|(a, b)| m.start() >= *a && m.start() < *b)
                        && !NEGATED_AFTER.is_match(&s.text[m.end()..])
                        && !names_an_input(cue.claim, m.start(), &attributes)
                        && (cue.claim != Claim::Unsupported("generation")
                            || !translated
                                .iter()
                                .any(|(a, b)| m.start() >= *a && m.start() < *b))
                        && !(matches!(
                            cue.claim,
                            Claim::Modality(Modality::Image | Modality::Audio | Modality::Text)
                        ) && (is_modifier(&s.text, m.start(), m.end())
                            || converted
                                .iter()
                                .any(|(a, b)| m.start() >= *a && m.start() < *b)))
                })
                .collect();
            let n = found.len();
            if n == 0 {
                continue;
            }
            let in_task = found
                .iter()
                .any(|m| task.iter().any(|(a, b)| m.start() >= *a && m.start() < *b));
            // Evidence in the sentence that states the task counts more; a kind of task automl
            // cannot train, named only outside that sentence, counts less (it is context:
            // "users type questions into our chatbot. Categorise each query ...").
            let clause = if in_task {
                TASK_SENTENCE_WEIGHT
            } else if matches!(cue.claim, Claim::Unsupported(_))
                && !task.is_empty()
                && !matches!(s.role, Role::Evaluation | Role::Submission)
            {
                CONTEXT_UNSUPPORTED_WEIGHT
            } else {
                1.0
            };
            let v = cue.weight * repeat_factor(n) * clause;
            match cue.claim {
                Claim::Modality(m) => {
                    if let Some(e) = ev.modality.iter_mut().find(|(mm, _)| *mm == m) {
                        e.1 += v * wm;
                    }
                }
                Claim::Classification => ev.classification += v * wo,
                Claim::Regression => ev.regression += v * wo,
                Claim::Unsupported(t) => match unsup.iter_mut().find(|(tt, _)| *tt == t) {
                    Some(e) => e.1 += v * wo,
                    None => unsup.push((t, v * wo)),
                },
            }
        }
    }
    unsup.sort_by(|a, b| b.1.total_cmp(&a.1));
    ev.unsupported = unsup;
    for (re, m) in ABSENT.iter() {
        if sections.iter().any(|s| re.is_match(&s.text)) {
            if let Some(e) = ev.modality.iter_mut().find(|(mm, _)| mm == m) {
                e.1 = 0.0;
            }
            ev.absent.push(*m);
        }
    }
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::brief::sections;

    #[test]
    fn abbreviations_and_wrapped_lines_keep_offsets() {
        let t = "Pears, plums etc. and e.g. figs vs. dates.";
        let u = unabbreviate(t);
        assert_eq!(u.len(), t.len());
        assert_eq!(u, "Pears, plums etc  and e g  figs vs  dates.");
        let w = "a long line of a paragraph that was wrapped by the writer's mail client\nat seventy characters\n\nShort label line\n- item";
        let v = unwrap_lines(w);
        assert_eq!(v.len(), w.len());
        assert!(v.contains("client at seventy"));
        assert!(v.contains("characters\n\nShort label line\n- item"));
    }

    #[test]
    fn sections_by_heading() {
        let s = sections(
            "Leaf Classification\n\nThere are many kinds of story here about photos of nature and more words.\n\n## Evaluation\nSubmissions are evaluated on RMSE.\n\nData Description\nThe file train.csv has columns.",
        );
        let roles: Vec<Role> = s.iter().map(|s| s.role).collect();
        assert_eq!(
            roles,
            vec![Role::Title, Role::Body, Role::Evaluation, Role::Data]
        );
    }

    #[test]
    fn negated_evidence_does_not_count() {
        let e = weigh(&sections("The images are not included."));
        let image = e.modality.iter().find(|(m, _)| *m == Modality::Image);
        assert_eq!(image.map(|x| x.1), Some(0.0));
        let e = weigh(&sections("Each row describes a photo of a leaf."));
        let image = e.modality.iter().find(|(m, _)| *m == Modality::Image);
        assert!(image.is_some_and(|x| x.1 > 0.0));
    }

    fn modality_of(e: &Evidence, m: Modality) -> f64 {
        e.modality
            .iter()
            .find(|(mm, _)| *mm == m)
            .map(|x| x.1)
            .unwrap_or(0.0)
    }

    #[test]
    fn negation_reaches_the_end_of_its_clause_only() {
        let t = "it is not a regression, i need classes";
        let spans = negated_spans(t);
        assert_eq!(spans.len(), 1);
        let (a, b) = spans[0];
        assert!(t[a..b].contains("regression"));
        assert!(!t[a..b].contains("classes"));
        // "but" turns to what is meant.
        let t = "we do not want prices but whether a flat sells";
        let (a, b) = negated_spans(t)[0];
        assert!(t[a..b].contains("prices") && !t[a..b].contains("sells"));
        // A negated cue does not count; the same cue outside the negation does.
        let neg = weigh(&sections("no photographs are involved at this stage"));
        assert_eq!(modality_of(&neg, Modality::Image), 0.0);
        let pos = weigh(&sections("the photographs are involved at this stage"));
        assert!(modality_of(&pos, Modality::Image) > 0.0);
    }

    #[test]
    fn or_not_and_not_only_negate_nothing() {
        assert!(negated_spans("decide whether or not the parcel arrives late").is_empty());
        assert!(negated_spans("not only the scans but the notes").is_empty());
        assert_eq!(without_negated("tell me if or not"), "tell me if or not");
        assert_eq!(without_negated("not a price"), "           ");
    }

    #[test]
    fn file_types_that_only_hold_tables_or_documents() {
        let e = weigh(&sections("the survey answers are in wave3_final.xlsx"));
        assert!(modality_of(&e, Modality::Tabular) > 0.0);
        let e = weigh(&sections(
            "the minutes of every meeting are in minutes_2019.pdf",
        ));
        assert!(modality_of(&e, Modality::Text) > 0.0);
        // CSV holds anything: it is no evidence on its own.
        let e = weigh(&sections("everything sits in export.csv"));
        assert_eq!(modality_of(&e, Modality::Tabular), 0.0);
    }

    #[test]
    fn data_turned_into_rows_is_a_table() {
        let e = weigh(&sections(
            "the paper forms were digitised into csv rows by the clerks",
        ));
        assert!(modality_of(&e, Modality::Tabular) >= 3.0);
    }

    #[test]
    fn the_input_phrase_names_what_the_model_reads() {
        assert_eq!(
            input_phrases("estimate the ripeness of a mango from a photo taken at the stall"),
            vec![Input::Phrase("a photo".to_string())]
        );
        assert_eq!(
            input_phrases("estimate the rent from the floor, district, size and view"),
            vec![Input::Attributes]
        );
        // Provenance is not input: the model reads the values computed from the pictures.
        assert!(input_phrases("predict the grade from values computed from pictures").is_empty());
        assert!(input_phrases("predict the grade from the pictures we took").len() == 1);
        assert!(input_phrases("the pictures came from a shop").is_empty());
    }

    #[test]
    fn the_task_sentence_ends_where_its_purpose_begins() {
        let t = "we sell bikes. predict the return rate so that the review team can plan. thanks";
        let spans = task_sentences(t);
        assert_eq!(spans.len(), 1);
        let (a, b) = spans[0];
        assert_eq!(t[a..b].trim(), "predict the return rate");
    }

    #[test]
    fn evidence_in_the_task_sentence_counts_more() {
        let task = weigh(&sections("classify the letters written by the mayor"));
        let context = weigh(&sections("the letters written by the mayor are here"));
        assert!(modality_of(&task, Modality::Text) > modality_of(&context, Modality::Text));
    }

    fn unsupported_of(e: &Evidence, kind: &str) -> f64 {
        e.unsupported
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|x| x.1)
            .unwrap_or(0.0)
    }

    #[test]
    fn labels_kept_per_token_are_token_tagging() {
        let e = weigh(&sections(
            "Data Fields\n- `tokens`: the words of a sentence\n- `ner_tags`: one tag per token",
        ));
        assert!(unsupported_of(&e, "token_classification") >= 3.0);
        let e = weigh(&sections("spans are annotated in the BIO format"));
        assert!(unsupported_of(&e, "token_classification") > 0.0);
        // A subject area named "q-bio" is no tagging scheme.
        let e = weigh(&sections(
            "classify abstracts into cs, math, q-bio, q-fin, stat or econ",
        ));
        assert_eq!(unsupported_of(&e, "token_classification"), 0.0);
        let e = weigh(&sections(
            "- `answers`: a dict with `text` and `answer_start`",
        ));
        assert!(unsupported_of(&e, "question_answering") >= 3.0);
    }

    #[test]
    fn a_translated_corpus_is_data_not_a_translation_task() {
        // How the data was made, or the translations whose quality is scored.
        for t in [
            "ro-sts is a high-quality translation of the english sts dataset; score each pair",
            "these are multilingual translations of the benchmark. translation has been done with deepl",
            "estimate the quality of machine translation output, without reference translations",
            "the sentences were translated from english by volunteers",
        ] {
            assert!(translation_data_spans(t).len() >= 1, "{t}");
            assert_eq!(
                unsupported_of(&weigh(&sections(t)), "generation"),
                0.0,
                "{t}"
            );
        }
        // Translating as the task.
        for t in [
            "translate the product descriptions from german into english",
            "a model that produces english translations of the menus",
            "machine translation of support tickets into french",
        ] {
            assert!(translation_data_spans(t).is_empty(), "{t}");
        }
        let e = weigh(&sections(
            "translate the product descriptions from german into english",
        ));
        assert!(unsupported_of(&e, "generation") > 0.0);
    }

    #[test]
    fn metrics_in_the_evaluation_section_weigh_more() {
        let body = weigh(&sections("We report RMSE."));
        let eval = weigh(&sections(
            "Title of it all\n\nsome long enough body text here to make a title.\n\n## Evaluation\nWe report RMSE.",
        ));
        assert!(eval.regression > body.regression);
    }
}
