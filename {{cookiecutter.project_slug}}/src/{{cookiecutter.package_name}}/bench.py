"""placeholder"""
import argparse
from .settings import Settings
def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass
def run_bench(args: argparse.Namespace, config: Settings) -> int:
    return 0
