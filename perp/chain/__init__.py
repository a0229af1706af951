"""Chain access (web3.py and eth-abi only): ABI and artifact loading (``abi``), the JSON-RPC contract client that
decodes structs by their ABI names (``rpc``), log paging (``logs``), transaction sending with correct receipt
waiting and EIP-1559 fees (``tx``), the deployment manifest (``manifest``) and typed reads of a deployment
(``client``)."""
from .abi import ERC20_ABI, ArtifactError, build_dir, linked_bytecode, load_abi, load_artifact
from .client import PerpClient
from .logs import deployment_block, fetch_logs, group_by_transaction
from .manifest import Manifest, ManifestError
from .rpc import Contract, Rpc, RpcError
from .tx import Fees, Sender, TxError, TxUnconfirmed, suggest_fees, transaction_at, wait_for_receipt

__all__ = [n for n in dir() if not n.startswith("_")]
