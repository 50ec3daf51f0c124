"""Prediction over a whole corpus on Ray Data (``allennlp ere-predict-corpus``): the plan and
output folder (`plan`), the reading step (`reading`) and the job (`job`)."""
