"""prep: pages of a service manual -> a chat fine-tuning dataset.

    python -m prep blocks SRC_DIR --out work/       # part 1: pages -> work/blocks.jsonl
"""
