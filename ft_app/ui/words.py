"""Every word the page shows, in one place: to read, check and one day translate.

Plain constants: a sentence, or a template filled with `.format(name=...)`; a widget's texts as a dict of its
keyword arguments (`gr.Textbox(**words.X, elem_id=...)`). The engine's own messages (its ValueErrors) stay in the
engine; the run-config fields' labels and help live with the config (ft_app/config.py), and the task and method
labels in ui/common.py.
"""

# ---- shared: notices, run status, progress bar, failure card ----------------------------------------------------
PLEASE_CHECK = "Please check"
BAD_OWNER_HEADER = (
    "The {header} header must be 32 to 128 letters, digits, '-' or '_' (e.g. made with secrets.token_urlsafe(32)); "
    "keep the same one to keep your runs."
)
QUEUE_FULL = "Queue is full. Max size is {limit} and size is {waiting}."  # Gradio's own wording, which clients know
STATUS_WORDS: dict[str, str] = {
    "queued": "Starting",
    "running": "Training",
    "stopping": "Stopping",
    "completed": "Finished",
    "stopped": "Stopped",
    "failed": "Failed",
    "interrupted": "Interrupted",
}
PROGRESS_IDLE = "Nothing is training yet. Pick a model and data, then press <b>Train</b>."
PROGRESS_RUN = "Run <code>{run_id}</code>"
PROGRESS_STEP = "step {step} / {total} ({pct}%)"
PROGRESS_EPOCH = "epoch {epoch:.2f}"
PROGRESS_ELAPSED = "elapsed {elapsed}"
PROGRESS_ETA = "about {eta} left"
PROGRESS_WEIGHTS = "training {trained} of its {total} weights ({share})"
FAILURE_TITLES = {
    "failed": "Training failed",
    "interrupted": "Training was interrupted",
    "stopped": "Training was stopped",
}
INTERRUPTED_WHAT = "The app stopped while this run was training."
INTERRUPTED_TODO = "Press <b>Resume this run</b> to continue from its last checkpoint; the curve goes on where it stopped."
FAILED_WHAT = "The run ended with an error."
FAILED_TODO_RESUME = (
    "Fix the cause above, then press <b>Resume this run</b> to continue from its last checkpoint, or "
    "<b>Train</b> to start again."
)
FAILED_TODO_TRAIN = "Fix the cause above, then press <b>Train</b> to start again."
LOG_TAIL = "Last lines of the log"

# ---- the run form (form.py) ----------------------------------------------------------------------------------
TRISTATE = [("Automatic", "auto"), ("Yes", "yes"), ("No", "no")]
EMPTY_IS_AUTOMATIC = "empty = automatic"
EMPTY_IS_USUAL = "empty = the usual choice"

# ---- the page around the tabs (app.py) -------------------------------------------------------------------------
TITLE = "Fine-Tune Studio"
AUTH_MESSAGE = "Fine-Tune Studio: sign in with the user name and password the host gave you."
HEADER = (
    "# {title}\n"
    "Teach a model with your own examples: **pick a model, give it data, press Train**, watch it learn, "
    "then compare its answers before and after. New here? Choose what the model should learn and press "
    "**Try an example**."
)
DEMO_BANNER = (
    "**Demo server:** training is switched off here. Browse the runs already on it and compare their "
    "models before and after fine-tuning in the **Compare** and **Runs** tabs. To train your own, run "
    "the app on your own machine."
)
SIGN_IN_NOTE = "Sign in with Hugging Face (button above) to train on this Space."
TASK_QUESTION = "What should the model learn?"
TRY_EXAMPLE = "Try an example"
TABS = {
    "model": "1 · Model",
    "data": "2 · Data",
    "train": "3 · Train",
    "compare": "4 · Compare",
    "runs": "5 · Runs",
    "export": "6 · Export",
}
EXAMPLE_ONLINE = (
    "**Example filled in:** {title}: model `{model}`, dataset `{dataset}` from the Hub, with the recipe *{recipe}*. "
    "Check the Data tab, then press **Train** in the Train tab."
)
EXAMPLE_OFFLINE = (
    "**Offline example:** {title}, from the bundled file `{file}`, with {model_line}. Then press **Train** in the "
    "Train tab."
)
EXAMPLE_LOCAL_MODEL = "the model folder `{path}`"
EXAMPLE_NO_MODEL = "**no model yet: type the path of a model folder on this computer in the Model tab**"
SETTINGS_NOT_RESTORED = "The settings of run {run_id} could not be restored: {error}"
PROBLEM = "**Problem:** {error}"

# ---- 1 · Model -------------------------------------------------------------------------------------------------
MODEL_INTRO = (
    "### Step 1 · Pick the model to start from\n"
    "Type a Hugging Face model id or a folder on this computer, or pick one from the search or the list below."
)
HUB_CHECKING = "Checking whether the Hugging Face Hub is reachable…"
HUB_ONLINE = "**Online:** the Hugging Face Hub is reachable: search it below."
HUB_OFFLINE = "**Offline:** {message} Use a model folder on this computer or one already downloaded (below)."
MODEL_BOX = {"label": "Model to fine-tune", "placeholder": "e.g. distilbert-base-uncased, or /path/to/a/model/folder"}
CHECK_MODEL = "Check this model"
NO_MODEL_YET = "No model chosen yet."
LOCAL_MODELS_BOX = "Models already on this computer"
LOCAL_MODELS = "Models on this computer"
LOCAL_MODEL_CHOICE = "{id} ({count} weights)"
LOCAL_MODELS_FOUND = (
    "{n} model(s) found: the Hugging Face cache, the app's folder, the local root, and models that installed Python "
    "packages ship."
)
LOCAL_MODELS_NONE = (
    "No model found on this computer yet (the Hugging Face cache, the app's folder, the local root, installed "
    "packages): search the Hub, or type a model folder's path above."
)
REFRESH_LIST = "Refresh list"
LOCAL_FOLDER_NOTE = "A model folder saved with `save_pretrained` works too: type its path in the box above."
HUB_SEARCH_BOX = "Search the Hugging Face Hub"
HUB_SEARCH = {"label": "Search", "placeholder": "e.g. bert, sentiment, smollm, flan-t5"}
SEARCH = "Search"
MODEL_RESULTS = "Results (most downloaded first; click a row to use it)"
MODEL_RESULT_HEADERS = ["model", "downloads", "likes", "parameters", "architecture", "license", "gated", "fits"]
NO_SEARCH_MATCH = "No models matched. Try a shorter search word."
ADVANCED_MODEL = "Advanced model options"
TOKEN_BOX = "Private or gated model? Your Hugging Face token"
TOKEN = {
    "label": "Hugging Face token (optional)",
    "placeholder": "hf_…",
    "info": "Only needed for gated models (e.g. Llama) or private ones. Used for this run's downloads and never "
            "saved: not in the run folder, its log or its config file. Create one at huggingface.co/settings/tokens.",
}
MODEL_LOCAL_TITLE = "**{id}** (folder on this computer: `{path}`)"
MODEL_HUB_TITLE = "**{id}** (Hugging Face Hub)"
MODEL_ARCHITECTURE = "- Architecture: {architecture}"
MODEL_WEIGHTS = "- Weights: {count}"
MODEL_HUB_ARCHITECTURE = "- Architecture: {architecture} · weights: {parameters}"
MODEL_HUB_LICENSE = "- License: {license} · gated: {gated} · downloads: {downloads:,}"
MODEL_FITS = "- Fits: {fits}"
UNKNOWN = "unknown"
NOT_STATED = "not stated"
MODEL_TASK_MISMATCH = (
    "\n**Check the task:** this model is usually used for **{suggested}**, and the task chosen at the top is "
    "**{task}**. Switch the task or pick another model."
)
MODEL_PROBLEM = "**{name}**\n\n**Problem:** {problem}"

# ---- 2 · Data --------------------------------------------------------------------------------------------------
DATA_INTRO = (
    "### Step 2 · Give it examples to learn from\n"
    "Upload a table (CSV, TSV, JSON, JSONL or Parquet) or type a Hugging Face dataset id, then check the preview "
    "and which column means what."
)
UPLOAD = "Upload a data file (up to {mb} MB)"
DATA_SOURCE = {"label": "Training data (a file or a Hub dataset id)",
               "placeholder": "e.g. stanfordnlp/sst2, or the uploaded file"}
DATASET_CONFIG = "Configuration"
TRAIN_SPLIT = "Split to train on"
LOAD_DATA = "Load and preview"
NO_DATA_YET = "No data loaded yet."
NO_DATA_GIVEN = "No data given: upload a file or type a Hub dataset id such as stanfordnlp/sst2."
PREVIEW = "Preview (first {rows} rows)"
DATA_SUMMARY = "**{rows:,} {unit}** · columns: {columns}\n\n{note}"
ROW, ROWS = "row", "rows"
DETECTED = "Detected: {pairs}. Change it below if it is wrong."
DETECTED_PAIR = "**{part}** ← `{column}`"
CHOOSE_COLUMNS = "**Please choose the columns below:** {error}"
MAPPING_TITLE = "#### Which column means what"
AUTO_COLUMN = "(detect automatically)"
DATA_SETTINGS = "Data settings"
REPORT_TITLE = "#### How the model will see it"
REPORT_BUTTON = "Check the data with the model's tokenizer"
REPORT_START = "Load data and pick a model, then press the button above to see label balance and lengths."
REPORT_PICK_MODEL = "Pick a model in the Model tab, then press the button above to see label balance and lengths."
REPORT_NOT_YET = "**Not checked yet:** {error}"
REPORT_LENGTHS = (
    "**Token lengths** ({measured} rows measured): average {mean:.0f}, median {p50:.0f}, 95% under {p95:.0f}, "
    "longest {longest}. Max length is {max_length}: **{over} rows ({share:.0%}) will be cut.**"
)
REPORT_WARNING = "**Warning:** {warning}"
DATA_FINE = "The data looks fine."
LABEL_BALANCE = "Label balance"
NO_LABELS = "No labels to count."
TOKEN_LENGTHS = "Token lengths"
LENGTHS_LATER = "Token lengths appear once data and a model are chosen."
EXAMPLE_AS_SEEN = "One training example as the model sees it (highlighted: the part it learns to write)"

# ---- the training coach (coach_box.py) -------------------------------------------------------------------------
COACH_KIND_TITLES = {
    "diverged": "Training blew up",
    "unstable": "Unsteady training",
    "flat": "Not learning",
    "overfitting": "Overfitting",
    "memorising": "Memorising",
}
COACH_SO_FAR, COACH_AT_END = "So far", "At the end"
COACH_FINDINGS = "**Training coach.** {when}, {things} to look at{apply}"
COACH_ONE_THING = "one thing"
COACH_THINGS = "{n} things"
COACH_APPLY_HINT = ": **Apply** changes the settings above for your next run (then press **Train**)."
COACH_ALL_WELL = "**Training coach.** {when}: {summary}"
COACH_FINDING = "{sign} **{title}.** {message}"
APPLY = "Apply"
APPLY_FIX = "Apply: {fix}"
COACH_NO_FIX = "This advice has no setting to change."
COACH_FIX_REFUSED = "The fix could not be applied to the current settings: {error}"
COACH_CHANGE = "{field} {old} → {new}"
COACH_APPLIED = "Changed {changes}. Press Train to start a new run with these settings."
ON, OFF, AUTOMATIC = "on", "off", "automatic"

# ---- 3 · Train -------------------------------------------------------------------------------------------------
TRAIN_INTRO = (
    "### Step 3 · Choose how to train, then press Train\n"
    "Start from a recipe; every setting has a one-line explanation. The defaults are safe."
)
RECIPE = {"label": "Recipe",
          "info": "Pick a known-good set of settings for a classic use; it fills in the method and the knobs below."}
PRESET_NOTE = "**{title}.** {description} {where}"
PRESET_MODEL = "Suggested model: `{model}`."
PRESET_NO_MODEL = "No model for it was found on this computer: type the folder of one in the Model tab."
METHOD_INFO = "{label}: {help}"
LORA_SETTINGS = "LoRA settings"
MORE_SETTINGS = "More training settings"
CHECKING_RESULT = "#### Checking the result"
EVAL_FIELDS = {
    "before_after": {"label": "Test before and after training"},
    "zero_shot_model": {"label": "Zero-shot baseline model (optional)",
                        "placeholder": "e.g. cross-encoder/nli-distilroberta-base"},
    "max_new_tokens": {"label": "Longest answer for test prompts (tokens)"},
    "temperature": {"label": "Temperature for test prompts"},
    "exact_match_rows": {"label": "Rows checked for exact match"},
}
GOLDEN_BOX = "Test prompts: see how the answers change (optional)"
GOLDEN_INTRO = (
    "Write a few texts or questions you care about. The model answers them **before** training starts and "
    "**again when it ends**, so you see the difference side by side."
)
GOLDEN_PROMPTS = {
    "label": "Test prompts (one per line)",
    "placeholder": "One per line, e.g.\nThe food was cold and the waiter was rude.\nBest concert of my life!",
}
GOLDEN_HELDOUT = {"label": "Also test on this many held-out rows",
                  "info": "Rows kept aside from your data, with their expected answers. 0 = none."}
RUN_NAME = {"label": "Run name (optional)", "placeholder": "e.g. reviews-v1"}
TRAIN = "Train"
TRAIN_OFF = "Training is off on this demo"
STOP = "Stop"
RUN_BOX = "Run"
RESUME_RUN = "Resume this run"
LIVE_PLOT = "Live training curve"
SMOOTHING = {"label": "Smoothing",
             "info": "Evens out a noisy loss curve (0 = raw values). Only changes the picture, not the training."}
LOG_BOX = "Log"
LOG_LABEL = "Last lines of the run's log"
CONFIG_BOX = "This run as a config file (to run it from the command line)"
CONFIG_LABEL = "Run config (JSON)"
CONFIG_NOTE = "Save it as `run.json` and run `python -m ft_app train run.json` to train the same run headless."
CURVE_EMPTY = "Press Train to start: the loss curve is drawn here live."
CURVE_QUEUED = "Starting the run…"
CURVE_GETTING_READY = "Getting ready ({phase})… the first point appears after the first logged step."
LOADING = "loading"
CURVE_NO_STEPS = "This run logged no training steps."
CURVE_TITLE = "Training curve · {run_id}"
SIGN_IN_TO_TRAIN = "Sign in with Hugging Face (the button at the top of the page) to train on this server."
NO_RUN_CONFIG = "No run config: pick a model (Model tab) and data (Data tab), then press Train."
PICK_RUN_TO_RESUME = "Pick a run to resume first."
RESUMED = "Run {run_id} continues from its last checkpoint; its curve goes on where it stopped."
STOPPING = "Stopping run {run_id} after the current step; what it learned so far is kept."
NOT_YOURS_TO_RESUME = "This run was started by another visitor: only they (or an admin of this server) can resume it."
ESTIMATE_PICK_MODEL = (
    "Pick a model to see the plan: how many passes and steps, how long it takes, and the memory it needs."
)
NO_ESTIMATE = "No estimate yet: {error}"
ESTIMATE_HEAD = "**{method}** · {plan} {weights}"
ESTIMATE_WEIGHTS = "Trains {trained} of its {total} weights ({share})."
ESTIMATE_GPU = "On a GPU it needs about {gb:.1f} GB of memory: {fits}"
ESTIMATE_FITS = "fits on {gpus}."
ESTIMATE_TOO_BIG = "too big for the usual single GPUs: try LoRA or QLoRA, or a smaller batch."
PLAN = "Plan: {plan}."
PLAN_MEASURING = "Run {run}: measuring its speed on its first {steps} steps…"
# An evaluation or checkpoint costs seconds and comes back each pass: the measure waits for the first one.
PLAN_MEASURING_CHECK = "Run {run}: measuring its speed on its steps and on its first evaluation or checkpoint…"
PLAN_MEASURED = ("Run {run}: {total} here in all, measured on its {steps} steps so far ({per} lately); "
                 "about {left} left.")
PLAN_TOOK = "Run {run} took {took} here{per}."
PLAN_PER_STEP = "{s:.2g} s a step"
TRIAL = "Time a few steps here"
TRIAL_INFO = ("Trains real steps of this model, method and batch on your data's first rows (a warm-up step, then "
              "steps for about 3 seconds: at least 4, at most 60), then the plan's time and memory are measured on "
              "this machine as it is now.")
PLAN_LATER = "The plan (passes, steps, time) appears once the data is a file on this computer."

# ---- the results panel (results_panel.py), on the Train and Runs tabs ----------------------------------------
RESULTS_TITLE = "#### Did fine-tuning help? Before → after, on rows the model never trained on"
MATRICES_NOTE = (
    "**Which label each model gave.** Each row is the right label, each column the label the model gave: "
    "the numbers on the diagonal are right answers, the others are mix-ups."
)
MATRIX_BEFORE = "Before: the base model"
MATRIX_AFTER = "After: the fine-tuned model"
GOLDEN_TITLE = (
    "#### Your test prompts, answered before and after training\n"
    "Answered by the base model before training started, and by the fine-tuned model when it ended."
)
GOLDEN_LABEL = "Test prompts"
GOLDEN_HEADERS = ["input", "reference (from the data)", "base model (before)", "fine-tuned (after)"]
NO_EVAL = (
    "No before/after numbers for this run: it kept no held-out rows to test on (see <i>Held-out share for "
    "evaluation</i> in the Data tab's settings), or before/after evaluation was switched off."
)
CARD_HEADERS = ["Before<br><small>base model</small>", "After<br><small>fine-tuned</small>", "Change"]
CARD_ZERO_SHOT = "No training at all<br><small>zero-shot model</small>"
CARD_MEASURED = "Measured on the same {rows} held-out rows before and after, with the same settings."
ZERO_SHOT_SKIPPED = "Zero-shot baseline skipped: {reason}"
ZERO_SHOT_NOTE = (
    "The zero-shot column is <code>{model}</code> guessing the labels with no training, to show what fine-tuning "
    "bought."
)
CHANGE_POINTS = "{diff:+.1f} points"
CHANGE_RELATIVE = "{rel:.0%} {way}"
LOWER, HIGHER = "lower", "higher"
ABOUT_THE_SAME, BETTER, WORSE = " (about the same)", " (better)", " (worse)"
LABEL_F1 = "F1 of label “{label}”"
LABEL_HINT = (
    "found {found} of the {support} rows labelled {label} (before: {found_before}); when it answers {label} it is "
    "right {right} of the time (before: {right_before})"
)
LABEL_SURE = "{label} ({p:.0%} sure)"

# ---- 4 · Compare -----------------------------------------------------------------------------------------------
COMPARE_INTRO = (
    "### Step 4 · Before and after\n"
    "Type a text (or click a held-out example): the base model and your fine-tuned model answer side by side, "
    "with the same settings."
)
COMPARE_RUN = "Fine-tuned run"
RUN_CHOICE = "{run_id} · {status} · {model}"
FINISHED_RUNS = "Runs that finished (or were stopped) and saved a model."
NO_FINISHED_RUNS = "No finished runs yet."
NO_RUN_TO_COMPARE = (
    "No finished run to compare yet: train a model in the Train tab first, and when it has finished, pick it here."
)
PICK_RUN_TO_COMPARE = "Pick a run to compare first."
BEST_METRIC = " · held-out: {best}"
COMPARE_TEXT = {"label": "Your text or prompt", "placeholder": "Type something the model should handle…"}
NO_PROMPT = "Type a text or prompt first, or click one of the held-out examples."
HELD_OUT_EXAMPLES = "Held-out examples the model never trained on (click one to use it)"
EXPECTED_ANSWER = "**Expected answer (from the data):** {reference}"
DECODING = "Decoding settings (the same for both models)"
MAX_NEW_TOKENS = {"label": "Max new tokens", "info": "Longest answer, in tokens."}
TEMPERATURE = {"label": "Temperature", "info": "0 always picks the likeliest word (repeatable); higher is more varied."}
TOP_P = {"label": "Top-p",
         "info": "With temperature above 0: sample only from the likeliest words adding up to this share."}
SEED = {"label": "Seed", "info": "Same seed, same sampled answer."}
COMPARE = "Compare"
BASE_TITLE = "#### Base model (before)"
BASE_SAYS = "Base model says"
BASE_PROBABILITIES = "Base model: label probabilities"
TUNED_TITLE = "#### Fine-tuned (after)"
TUNED_SAYS = "Fine-tuned model says"
TUNED_PROBABILITIES = "Fine-tuned model: label probabilities"
BATCH_INTRO = (
    "### Many rows at once\n"
    "Both models answer the same rows: the run's held-out rows (kept aside from training), or your own texts. Each "
    "answer is checked against the expected one (from your data, or your list's label column). For generated text, "
    "*right* means equal to it, ignoring case and punctuation."
)
BATCH_N = {"label": "How many held-out rows",
           "info": "More rows give a fairer picture but take longer (each row is answered twice)."}
BATCH_GO = "Compare on these rows"
SHOW = "Show"
BATCH_FILTERS = [("All rows", "all"), ("Fixed by fine-tuning (base wrong, fine-tuned right)", "fixed"),
                 ("Broken by fine-tuning (base right, fine-tuned wrong)", "broken")]
BATCH_HEADERS = ["input", "reference (from the data)", "base model (before)", "fine-tuned (after)", "base right?",
                 "fine-tuned right?", "change"]
BATCH_TABLE = "Side by side (click a cut cell to read all of it; the CSV has every text)"
BATCH_CSV = "Download the table as CSV"
CHANGE_WORDS = {"fixed": "fixed by fine-tuning", "broken": "broken by fine-tuning", "same": "no change", "": ""}
YES, NO = "✔ yes", "✘ no"
BATCH_UNJUDGED = "Both models answered {n} held-out rows; these rows have no expected answer to check against."
BATCH_SUMMARY = (
    "On {n} held-out rows the **base model was right {base} times** and the **fine-tuned model {tuned} times**: "
    "fine-tuning **fixed {fixed}** and **broke {broken}**."
)
FEWER_ROWS = " (This run kept only {n} held-out rows.)"

# ---- 5 · Runs --------------------------------------------------------------------------------------------------
RUNS_INTRO = (
    "### Step 5 · Your runs\n"
    "Every run is kept on disk: open one to see its settings and curves, tick several to compare their curves."
)
REFRESH_RUNS = "Refresh the list"
RUNS_TABLE = "All runs (newest first)"
RUNS_HEADERS = ["run", "status", "task", "model", "method", "started", "held-out (model kept)"]
OPEN_RUN = "Open a run"
TRY_IN_COMPARE = "Try it in Compare"
DELETE_RUN = "Delete this run…"
CONFIRM_DELETE = "Yes, delete it"
CANCEL = "Cancel"
RUN_CURVES = "Curves of this run"
PICK_RUN_ABOVE = "Pick a run above to open it."
PICK_RUN_FOR_CURVES = "Pick a run above to see its curves."
RUN_CONFIG_BOX = "Settings of this run (config file)"
RUN_LOG_BOX = "Log of this run (last lines)"
OVERLAY_BOX = "Compare the curves of several runs"
OVERLAY_PICK = "Runs to overlay"
OVERLAY_PLOT = "Runs side by side"
RUN_NO_STEPS = "This run logged no steps."
RUN_STATUS = "- Status: **{status}** {message}"
RUN_TASK = "- Task: {task} · method: {method}"
RUN_MODEL = "- Model: `{model}`"
RUN_TIMES = "- Started {started} · finished {finished} · took {took}"
RUN_STEPS = "- Steps: {step} of {total}"
RUN_RESUMED = "- Resumed from {source}"
RUN_ROWS = "- Rows: {train} for training, {held} held out"
RUN_BACKED_UP = "- Backed up to the Hub ({repo}) at {at}"
RUN_BACKUP_FAILED = "- Backup to the Hub failed: {error}"
RUN_NOT_YOURS = "- Started by another visitor: you can look at it and compare it, not stop, resume or delete it."
RUN_BEST = "- The model it kept: {best}"
KEPT_METRICS = "{metrics} (step {step})"
RUN_COACH = "- Coach: {summary}"
RUN_FOLDER = "- Folder: `{path}`"
PICK_RUN_TO_DELETE = "Pick a run to delete first."
DEMO_NO_DELETE = "This is a demo server: deleting runs is switched off here."
CONFIRM_DELETE_TEXT = "Delete run **{run_id}** and all its files for good?"
RUN_DELETED = "Run {run_id} deleted."
BACKUPS_BOX = "Backups on the Hugging Face Hub"
BACKUPS_INTRO = (
    "Every finished run is backed up to the private dataset `{repo}`. A Space without persistent storage loses its "
    "runs when it restarts: bring them back here."
)
LIST_BACKUPS = "List the backups"
BACKED_UP_RUN = "Backed-up run"
RESTORE = "Restore this run"
BACKUP_HEADERS = ["run", "status", "task", "model", "backed up", "on this server"]
HERE, NOT_HERE = "yes", "no"
PICK_BACKUP = "Pick a backed-up run to restore first (press List the backups)."
RESTORED = "Run {run_id} is back: open it in the list above."

# ---- 6 · Export ------------------------------------------------------------------------------------------------
EXPORT_INTRO = (
    "### Step 6 · Take it anywhere\n"
    "Download your fine-tuned model, merge a LoRA adapter into it, publish it to the Hugging Face Hub with a "
    "model card, get a before/after demo app, or the commands to train it again on bigger machines."
)
EXPORT_RUN = "Run to export"
NO_RUN_TO_EXPORT = "No finished run yet: train a model in the Train tab first; when it has finished, pick it here."
PICK_RUN_TO_EXPORT = "Pick a run to export first."
RUN_CARD = "**{run_id}** · {task} · `{model}` · {method} · {status}"
EXPORT_RESULT = "- Result: `{name}/`, {size}"
ADAPTER_NOTE = " (a LoRA adapter: it needs the base model to run)"
EXPORT_MERGED = "- Merged model: `merged/`, {size}"
ZIP_BOX = "Download everything (.zip)"
ZIP_CONTENTS = (
    "One file with everything: the model (or LoRA adapter) with its tokenizer, the label names, the run's "
    "`config.json`, `metrics.jsonl` and `eval.json`, the loss curve as a PNG, a model card (`README.md`) with a "
    "five-line usage snippet, a before/after demo app (`space/`) and the commands to run it again at scale "
    "(`recipe/`). It loads with plain `transformers`/`peft`, no Fine-Tune Studio needed."
)
MAKE_ZIP = "Make the zip"
WITH_MERGED = "Include the merged model"
ZIP_DOWNLOAD = "Download the zip"
ZIP_READY = "Ready: `{name}`, {size}, made in {seconds:.1f} s."
DOWNLOAD = "Download {name}"
DOWNLOAD_SIZED = "Download {name} ({size})"
MERGE_BOX = "Merge the LoRA adapter into the base model"
MERGE = "Merge"
MERGE_OFF = "Merging is switched off on this demo server."
DEMO_NO_MERGE = "This is a demo server: merging is switched off here. Download the zip instead."
CARD_BOX = "Model card"
CARD_INTRO = (
    "The card the Hub shows for the model: what it was trained for, on what data, every setting, the "
    "before -> after numbers, the test prompts, the curve, how to use it and its limits."
)
WRITE_CARD = "Write the model card"
CARD_DOWNLOAD = "Download README.md"
CARD_META = "Hub metadata (front matter)"
CARD_CURVE = "Loss curve (loss_curve.png)"
CARD_PICTURE = "*(the picture above)*"
PUBLISH_BOX = "Publish to the Hugging Face Hub"
PUBLISH_OFF = "**Publishing is switched off on this demo server.** Download the zip instead."
PUBLISH_TOKEN_NOTE = (
    "Uses the token from **1 · Model → Private or gated model?** (a token with *write* access), else the "
    "server's `HF_TOKEN`. It is used for this upload only and never saved."
)
REPO = {"label": "Repo name", "placeholder": "empty: <your user>/<base model>-<run id>"}
PRIVATE_REPO = {"label": "Private repo", "info": "Only you (and your organisation) can see it."}
PUBLISH_WHAT = "What to publish"
PUBLISH_CHOICES = [("The result (the adapter, or the whole model)", "result"), ("The merged model", "merged"),
                   ("A before/after demo Space", "space")]
PUBLISH = "Publish"
PUBLISHED = "Published to the {visibility} {kind} **[{repo_id}]({url})** in one commit ({n} files).{note}"
PRIVATE, PUBLIC = "private", "public"
SPACE_REPO, MODEL_REPO = "Space", "model repo"
SPACE_BOX = "Before/after demo app (a Gradio Space)"
SPACE_INTRO = (
    "A small app of its own: it loads the base model and your fine-tuned one and shows their answers side by "
    "side, on the run's test prompts and on any text. Upload the folder as a Hugging Face Space, or run it "
    "on your computer with `pip install gradio -r requirements.txt && python app.py`."
)
MAKE_SPACE = "Make the demo app (.zip)"
SPACE_DOWNLOAD = "Download the demo app"
GGUF_BOX = "Run it on your laptop (GGUF for llama.cpp, Ollama and LM Studio)"
GGUF_INTRO = (
    "One `.gguf` file with the model, its tokenizer and its chat template (a LoRA adapter is merged into the base "
    "first), and an Ollama `Modelfile` beside it with the Compare tab's decoding settings. Then, on your computer: "
    "`ollama create my-model -f Modelfile && ollama run my-model`, or `llama-cli -m <file>.gguf -cnv`."
)
GGUF_QUANT = "Size of the weights"
MAKE_GGUF = "Make the GGUF file"
GGUF_DOWNLOAD = "Download the .gguf file"
MODELFILE_DOWNLOAD = "Download the Modelfile"
GGUF_DEMO_OFF = "Making a GGUF file is switched off on this demo server (it merges the adapter). Download the zip instead."
RECIPE_BOX = "Run it again, at scale"
MAKE_RECIPE = "Download config.json and the accelerate files (.zip)"
RECIPE_DOWNLOAD = "Download the recipe"

# ---- issue 17: what "before" means, one count of weights, names, messages that stay -----------------------------
CARD_BEFORE_NEW_HEAD = "Before<br><small>new head, untrained</small>"
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
CARD_NEW_HEAD_GUESS = (
    "Before training the new head guesses: about {chance:.0%} on {labels} labels. Its “before” is the pretrained "
    "model with a new, untrained output layer, the same number for every method with this model, data and seed: "
    "what training taught it is the whole of the change."
)
CARD_NEW_HEAD_ZERO_SHOT = (
    "For the before that means something, see the zero-shot column: <code>{model}</code> choosing among the labels "
    "with no training at all."
)

# ---- issue 17 items 4 and 6: notices that follow their cause, Compare on a person's own texts ---------------------
# What the Train button says while it cannot start a run (it follows the job manager, so it changes with the run;
# the run's id is on the progress bar right below, so the button stays short).
TRAIN_BUSY = "Busy: a run is training"
TRAIN_BUSY_OTHER = "Busy: another visitor's run is training"
TRAIN_STOPPING = "Stopping: saving what it learned…"
TRAIN_STOPPING_OTHER = "Another visitor's run is stopping…"
TRAIN_STARTING = "Starting: getting the training process ready…"
BATCH_TEXTS = {
    "label": "Or your own texts, one a line",
    "info": "Leave empty to use the run's held-out rows. Each line is answered on its own by both models.",
    "placeholder": "A warm, moving film.\nA dull, ugly mess.",
}
BATCH_FILE = "Or upload a list: .txt (one text a line) or .csv with a 'text' column and an optional 'label' column"
BATCH_OWN_SUMMARY = (
    "On your {n} texts the **base model was right {base} times** and the **fine-tuned model {tuned} times** "
    "(checked against your labels): fine-tuning **fixed {fixed}** and **broke {broken}**."
)
BATCH_OWN_UNJUDGED = (
    "Both models answered your {n} texts; without a label column there is no expected answer to check them against."
)
COMPARE_LINES = (
    "Your text has {n} lines: both models read it as **one** text. To answer each line on its own, paste them into "
    "*Or your own texts, one a line* below and press *Compare on these rows*."
)
# A Publish that failed: kept in the publish box, whole (a toast vanished and cut the message off).
PUBLISH_FAILED = "**Not published.** {message}"

# ---- issue 19 item 2: chat side by side (Compare tab) -------------------------------------------------------------
CHAT_TITLE = "### Chat with both models"
CHAT_INTRO = (
    "Type once: the base model and the fine-tuned model each answer in their own column, word by word as they "
    "write, and each remembers its own answers for the next message. Both use the run's chat template and system "
    "prompt and the decoding settings above."
)
CHAT_BASE = "Base model (before)"
CHAT_TUNED = "Fine-tuned (after)"
CHAT_MESSAGE = {"label": "Your message", "placeholder": "Say something to both models, then press Enter or Send"}
CHAT_SEND = "Send"
CHAT_RESET = "Start over"
CHAT_NO_MESSAGE = "The message is empty: type something to say to both models."
CHAT_EMPTY_ANSWER = "*(no answer: the model stopped at once)*"
CHAT_DROPPED = (
    "This conversation no longer fits what the model reads ({limit} tokens, with room for a {tokens}-token answer): "
    "its oldest {dropped} turns were left out of the last answer's prompt. Press *Start over* for a fresh one."
)
CHAT_PROMPTS = "What each model read for its last answer"
CHAT_BASE_PROMPT = "The base model's prompt"
CHAT_TUNED_PROMPT = "The fine-tuned model's prompt"
