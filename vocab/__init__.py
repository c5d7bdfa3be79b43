"""The ground floor: the manual's vocabulary, standard library only. units.py (the one unit
grammar: every spelling of a unit, every number with a unit in a text), words.py (how text and a
question split into words and phrases), cites.py (the grounded prompt and an answer's cite). Every
module of the kit may import these; they import nothing of the kit.
"""
