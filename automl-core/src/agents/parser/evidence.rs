//! Evidence for the embedded parser: a request is cut into sections (a title, "Evaluation",
//! "Data", background...; see [`crate::agents::brief`]), each section is searched for pieces of evidence (metric names, file
//! types, data descriptions, task statements, submission formats, the kinds of task automl
//! cannot train), and each piece counts with the weight of its kind times the weight of the
//! section it was found in. A piece in a negated phrase ("the images are not included") does
//! not count.

use std::sync::LazyLock;

use regex::Regex;

use crate::agents::brief::Section;
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
    ]
});

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
            r"\b(rgb|grayscale|greyscale|\d+\s?x\s?\d+(\s?pixels?)?|thumbnails?|convolutional|cnns?|computer vision|handwritten|drawings?|sketch(es)?|scanned)\b",
            Modality(crate::event::Modality::Image),
            1.2,
        ),
        // --- text: kinds of writing, language words
        c(
            r"\b(texts?|textual|sentences?|paragraphs?|documents?|essays?|articles?|headlines?|tweets?|reviews?|comments?|posts?|e-?mails?|sms|messages?|narratives?|abstracts?|passages?|phrases?|utterances?|queries|words?|tokens?|vocabulary|corpus|corpora|titles?|questions?|answers?|dialog(ue)?s?|conversations?|prompts?|responses?|stories|books?|news)\b",
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
            r"\b(historical|past) (sales|data|values|prices|demand|traffic|load|observations)\b|\b(next|following|coming) (\d+ )?(days?|weeks?|months?|hours?|years?|quarters?|steps?)\b",
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
            r"\b(categorical|numerical|numeric|continuous|discrete|binary|ordinal|nominal|integer|real) (features?|variables?|attributes?|columns?|values?|inputs?)\b|\b(anonymi[sz]ed|engineered) features\b",
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
        // A target described as what something is or how it ended is a class.
        c(
            r"\b(target|label|outcome)( variable| column)?\s*(:|is|=)\s*(the\s+)?([a-z-]+\s+){0,3}?(identity|result|status|class|category|type|kind|presence|diagnosis)\b",
            Classification,
            2.5,
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
    ]
});

static NEGATED_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[^.;:\n]{0,16}\b(are|is|were|was) not (included|provided|available|given|used|part)",
    )
    .expect("static regex")
});

static NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(no|not|without|never|nor|neither|isn't|aren't|don't|doesn't|instead of|rather than)\b[^.;:\n]{0,24}$")
        .expect("static regex")
});

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
        for cue in CUES.iter() {
            let n = cue
                .re
                .find_iter(&s.text)
                .filter(|m| {
                    !NEGATION.is_match(&s.text[..m.start()])
                        && !NEGATED_AFTER.is_match(&s.text[m.end()..])
                })
                .count();
            if n == 0 {
                continue;
            }
            let v = cue.weight * repeat_factor(n);
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
    use crate::agents::brief::{Role, sections};

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

    #[test]
    fn metrics_in_the_evaluation_section_weigh_more() {
        let body = weigh(&sections("We report RMSE."));
        let eval = weigh(&sections(
            "Title of it all\n\nsome long enough body text here to make a title.\n\n## Evaluation\nWe report RMSE.",
        ));
        assert!(eval.regression > body.regression);
    }
}
