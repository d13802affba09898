#!/usr/bin/env python3
"""Seconds from a run's first event to its first TRAIN_RUN_FINISHED on small tables (decisions/0085).
Run from the repository root after building target/debug/automl; /tmp/imb/train.csv is the thinned
census split of automl-core/tests/tabular_search.rs (skipped when absent)."""
import json,datetime,subprocess,sys,os,tempfile
sets=[('datasets/tabular/breast_cancer.csv','diagnosis'),('datasets/tabular/penguins.csv','species'),('datasets/tabular/diabetes.csv','progression'),('/tmp/imb/train.csv','income'),('datasets/tabular/wine.csv','cultivar')]
for path,t in sets:
    if not os.path.exists(path): continue
    hdr=open(path).readline().strip().split(',')
    if t not in hdr: t=hdr[-1]
    out=subprocess.run(['target/debug/automl','run',f'predict {t}','--data',path,'--target',t,'--time-budget','3s','--json','--out',tempfile.mkdtemp(prefix='automl-first-'),'--seed','0'],capture_output=True,text=True).stdout
    start=trs=None; first=None
    for l in out.splitlines():
        e=json.loads(l); ev=e['event']; ts=datetime.datetime.fromisoformat(e['ts'].replace('Z','+00:00'))
        if start is None: start=ts
        if ev['name']=='STAGE_STATUS' and ev['payload']['stage']=='TRAIN' and ev['payload']['status']=='running': trs=ts
        if ev['name']=='TRAIN_RUN_FINISHED' and first is None: first=(ts,ev['payload']['model'],ev['payload']['duration_s'])
    print(f"{os.path.basename(path)}: first model {first[1]} at {(first[0]-start).total_seconds():.3f} s after run start, {(first[0]-trs).total_seconds():.3f} s after TRAIN start (trial {first[2]:.3f} s)")
