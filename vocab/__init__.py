"""The ground floor: the manual's vocabulary, standard library only. words.py (how text and a
question split into words and phrases), cites.py (the grounded prompt and an answer's cite). Every
module of the kit may import these; they import nothing of the kit.
"""
