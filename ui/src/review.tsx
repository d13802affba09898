// The review in pictures: importance, predicted vs actual and residuals (regression), the
// confusion heat map, ROC and precision-recall (binary), misclassified images.

import { confirm, misclassifiedUrl } from "./api";
import { Bars, ConfusionHeatmap, LineChart, Scatter, UnitCurve, fmtNum } from "./charts";
import { useStore } from "./store";
import { forecastLines, positiveShare, regressionPoints } from "./views";

export function Review() {
  const { review, stages, projectId } = useStore();
  const setErr = useStore((s) => s.setCommandError);
  if (!review) return null;
  const waiting = stages.REVIEW_EDIT.status === "waiting";
  const cm = review.confusion_matrix;
  const { pva, residuals } = regressionPoints(review);
  const pos = positiveShare(review);
  const positive = cm?.labels[1] ?? "positive";
  const auc = review.metrics?.roc_auc;
  const importance = (review.feature_importance ?? []).map((f) => ({ label: f.feature, value: f.importance }));
  const misclassified = review.misclassified ?? [];
  const forecasts = forecastLines(review);
  return (
    <section data-testid="review" aria-labelledby="review-h">
      <h2 id="review-h">Review</h2>
      <p>
        Best: <b>{review.model}</b> ({review.best_run_id}) on {review.n_test} held-out test rows
      </p>
      <dl className="metrics" data-testid="test-metrics">
        {Object.entries(review.metrics ?? {}).map(([k, v]) => (
          <div key={k}><dt>{k.replace(/_/g, " ")}</dt><dd>{fmtNum(v)}</dd></div>
        ))}
      </dl>
      {waiting && projectId && (
        <p>
          <button data-testid="confirm" onClick={() => confirm(projectId).catch((e) => setErr(String(e.message ?? e)))}>
            Confirm and export
          </button>
        </p>
      )}
      <div className="charts">
        {forecasts.map((f, i) => (
          <LineChart
            key={f.name}
            series={f.lines}
            title={`${f.name}: forecast vs actual from ${f.firstTest}${f.mase != null ? ` (MASE ${fmtNum(f.mase)})` : ""}`}
            yLabel="value"
            xLabel="step"
            testid={`forecast-${i}`}
          />
        ))}
        {review.forecast && review.forecast.n_series > review.forecast.series.length && (
          <p className="muted">
            Showing {review.forecast.series.length} of {review.forecast.n_series} series.
          </p>
        )}
        {importance.length > 0 && <Bars items={importance} title="Feature importance (share of the model's total)" testid="importance" />}
        {pva.length > 0 && (
          <Scatter points={pva} title={`Predicted vs actual (${pva.length} test rows; on the dashed line = exact)`} xLabel="actual" yLabel="predicted" diagonal testid="pred-vs-actual" />
        )}
        {residuals.length > 0 && (
          <Scatter points={residuals} title="Residuals (actual − predicted) by prediction" xLabel="predicted" yLabel="residual" zero testid="residuals" />
        )}
        {review.residuals && pva.length === 0 && (
          <p className="muted">
            Residuals: mean {fmtNum(review.residuals.mean)}, spread {fmtNum(review.residuals.std)}; 5–95 % from {fmtNum(review.residuals.quantiles[0])} to {fmtNum(review.residuals.quantiles[4])}
          </p>
        )}
        {cm && <ConfusionHeatmap labels={cm.labels} matrix={cm.matrix} />}
        {review.roc_curve && (
          <UnitCurve
            x={review.roc_curve.x}
            y={review.roc_curve.y}
            title={`ROC of "${positive}"${auc != null ? ` (AUC ${fmtNum(auc)})` : ""}`}
            xLabel="false-positive rate"
            yLabel="true-positive rate"
            chance="diagonal"
            testid="roc"
          />
        )}
        {review.pr_curve && (
          <UnitCurve
            x={review.pr_curve.x}
            y={review.pr_curve.y}
            title={`Precision-recall of "${positive}"`}
            xLabel="recall"
            yLabel="precision"
            chance={pos ?? 0.5}
            testid="pr"
          />
        )}
      </div>
      {misclassified.length > 0 && projectId && (
        <figure className="misclassified" data-testid="misclassified">
          <figcaption>Test images the model got wrong</figcaption>
          <ul>
            {misclassified.map((m, i) => (
              <li key={m.item}>
                <img src={misclassifiedUrl(projectId, i)} alt={`true ${m.label}, predicted ${m.predicted}`} width={96} height={96} loading="lazy" />
                <span>
                  true <b>{m.label}</b>
                  <br />
                  predicted <b>{m.predicted}</b> ({Math.round(m.confidence * 100)} %)
                </span>
              </li>
            ))}
          </ul>
        </figure>
      )}
    </section>
  );
}
