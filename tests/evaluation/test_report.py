import pandas as pd

from pipeline.evaluation.report import text_table


def test_a_text_table_note_follows_its_row_and_leaves_the_numbers_alone():
    table = pd.DataFrame({"rmse": [0.32771, 0.32771]}, index=["rnn", "persistence"])
    plain = text_table(table).splitlines()
    header, rnn, persistence = text_table(table, notes={"rnn": "same as persistence"}).splitlines()
    assert rnn == plain[1] + "  (same as persistence)"
    assert [header, persistence] == [plain[0], plain[2]]
    assert rnn.split()[:2] == ["rnn", "0.3277"]


def test_an_empty_last_cell_leaves_no_trailing_blanks():
    table = pd.DataFrame({"theil_u": [0.9996, 1.0], "note": ["", "identical"]}, index=["A", "B"])
    assert [line.rstrip() for line in text_table(table).splitlines()] == text_table(
        table
    ).splitlines()
